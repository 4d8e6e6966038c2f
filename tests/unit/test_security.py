"""Transport security settings: checked at load, mapped onto aiokafka and faststream, and never
shown back in an error message."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram512

from shared.security import (
    consumer_options,
    database_options,
    faststream_security,
    kafka_options,
)
from shared.settings import SettingsError, load_settings, redact_url

SYSTEM_CAS = Path("/etc/ssl/certs/ca-certificates.crt")


def test_plaintext_by_default_adds_nothing() -> None:
    s = load_settings()
    assert kafka_options(s) == {} and faststream_security(s) is None
    assert database_options(s) == {}


def test_consumers_wait_for_2_kb_or_40_ms_by_default() -> None:
    """A trickle is fetched some ten events at a time, not one (bench/README.md)."""
    options = consumer_options(load_settings())
    assert (options["fetch_min_bytes"], options["fetch_max_wait_ms"]) == (2048, 40)
    options = consumer_options(load_settings(kafka_fetch_min_bytes=1))
    assert options["fetch_min_bytes"] == 1
    # the clock's consumer: a tick is wanted at once, whatever the setting
    assert consumer_options(load_settings(), min_bytes=1)["fetch_min_bytes"] == 1


def test_sasl_ssl_with_scram_reaches_both_kafka_clients() -> None:
    s = load_settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="gamify",
        kafka_sasl_password="pa55",
        kafka_ssl_cafile=SYSTEM_CAS if SYSTEM_CAS.exists() else None,
    )
    options = kafka_options(s)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("gamify", "pa55")
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    security = faststream_security(s)
    assert isinstance(security, SASLScram512) and security.use_ssl


def test_sasl_plaintext_and_ssl_only() -> None:
    plain = load_settings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u", kafka_sasl_password="p"
    )
    assert isinstance(faststream_security(plain), SASLPlaintext)
    assert "ssl_context" not in kafka_options(plain)
    tls = load_settings(kafka_security_protocol="SSL")
    security = faststream_security(tls)
    assert type(security) is BaseSecurity and security.use_ssl
    assert kafka_options(tls)["security_protocol"] == "SSL"


def test_a_database_password_apart_from_the_url() -> None:
    s = load_settings(database_password="pg-pa55")
    assert database_options(s) == {"password": "pg-pa55"}
    assert "pg-pa55" not in repr(s) and "pg-pa55" not in str(s)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "GAMIFY_KAFKA_SASL_USERNAME"),
        ({"kafka_ssl_cafile": "/nowhere/ca.pem"}, "GAMIFY_KAFKA_SSL_CAFILE: no such file"),
        ({"kafka_ssl_certfile": str(SYSTEM_CAS)}, "go together"),
        ({"kafka_security_protocol": "TLS"}, "GAMIFY_KAFKA_SECURITY_PROTOCOL='TLS'"),
        ({"db_pool_size": 3}, "GAMIFY_DB_POOL_SIZE=3 is too small .* at least 4"),
        ({"batch_lanes": 3, "consumers": 2}, "GAMIFY_DB_POOL_SIZE=6 .* at least 8"),
    ],
)
def test_incomplete_security_settings_are_refused_with_the_fix(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(**settings)


def test_secrets_are_never_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMIFY_DATABASE_URL", "mysql://gamify:hunter2@db:3306/gamify")
    monkeypatch.setenv("GAMIFY_HTTP_TOKEN", "")
    monkeypatch.setenv("GAMIFY_KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("GAMIFY_DB_POOL_SIZE", "many")
    with pytest.raises(SettingsError) as err:
        load_settings()
    text = str(err.value)
    assert "GAMIFY_DATABASE_URL='mysql://gamify:***@db:3306/gamify'" in text
    assert "GAMIFY_DB_POOL_SIZE='many'" in text
    assert "hunter2" not in text and "s3cret" not in text
    monkeypatch.setenv("GAMIFY_DATABASE_URL", "postgresql://gamify:hunter2@db:5432/gamify")
    s = load_settings(db_pool_size=4)
    assert "s3cret" not in repr(s) and "s3cret" not in s.model_dump_json()


def test_urls_lose_their_password_in_logs() -> None:
    assert redact_url("postgresql://u:hunter2@h:5/d?sslmode=require") == (
        "postgresql://u:***@h:5/d?sslmode=require"
    )
    assert redact_url("postgresql://u@h/d") == "postgresql://u@h/d"
