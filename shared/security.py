"""Transport security from the settings: TLS and SASL options for every Kafka client (aiokafka
directly, and faststream's broker), and the password of the database."""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from shared.settings import Settings


def _ssl_context(s: Settings) -> ssl.SSLContext | None:
    if "SSL" not in s.kafka_security_protocol:
        return None
    key_password = s.kafka_ssl_key_password.get_secret_value() if s.kafka_ssl_key_password else None
    context: ssl.SSLContext = create_ssl_context(
        cafile=str(s.kafka_ssl_cafile) if s.kafka_ssl_cafile else None,
        certfile=str(s.kafka_ssl_certfile) if s.kafka_ssl_certfile else None,
        keyfile=str(s.kafka_ssl_keyfile) if s.kafka_ssl_keyfile else None,
        password=key_password,
    )
    return context


def consumer_options(s: Settings, min_bytes: int | None = None) -> dict[str, Any]:
    """Keyword arguments for an aiokafka consumer: security, and how long a fetch may wait
    for how many bytes (`min_bytes` over the setting, for a consumer that wants each record
    at once)."""
    return {
        **kafka_options(s),
        "fetch_max_wait_ms": s.kafka_fetch_max_wait_ms,
        "fetch_min_bytes": s.kafka_fetch_min_bytes if min_bytes is None else min_bytes,
    }


def kafka_options(s: Settings) -> dict[str, Any]:
    """Keyword arguments for an aiokafka producer, consumer or admin client."""
    if s.kafka_security_protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": s.kafka_security_protocol}
    context = _ssl_context(s)
    if context is not None:
        options["ssl_context"] = context
    if s.kafka_security_protocol.startswith("SASL"):
        assert s.kafka_sasl_password is not None  # the settings checked it
        options |= {
            "sasl_mechanism": s.kafka_sasl_mechanism,
            "sasl_plain_username": s.kafka_sasl_username,
            "sasl_plain_password": s.kafka_sasl_password.get_secret_value(),
        }
    return options


def faststream_security(s: Settings) -> BaseSecurity | None:
    """The same, in the form faststream's KafkaBroker takes."""
    if s.kafka_security_protocol == "PLAINTEXT":
        return None
    context = _ssl_context(s)
    use_ssl = context is not None
    if s.kafka_security_protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    assert s.kafka_sasl_username is not None and s.kafka_sasl_password is not None
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return sasl[s.kafka_sasl_mechanism](
        s.kafka_sasl_username,
        s.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=use_ssl,
    )


def database_options(s: Settings) -> dict[str, Any]:
    """Keyword arguments for asyncpg beside the URL (TLS itself is set in the URL)."""
    if s.database_password is None:
        return {}
    return {"password": s.database_password.get_secret_value()}
