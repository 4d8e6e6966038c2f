"""A service that cannot reach the broker or the database at start says so in one line that
names the address and the setting, with no traceback, and exits 1 (a supervisor restarts it;
2 is kept for configuration errors, which a restart cannot mend)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from shared.apache_kafka import ApacheKafka
from shared.embedded import EmbeddedKafka, free_port
from shared.reach import database_address

ROOT = Path(__file__).resolve().parents[2]


def _start(**env: str) -> subprocess.CompletedProcess[str]:
    settings = {f"GAMIFY_{k.upper()}": v for k, v in env.items()}
    return subprocess.run(
        [sys.executable, "-m", "services.points"],
        env={**os.environ, **settings, "GAMIFY_HTTP_PORT": "0"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unreachable_broker_is_named_with_its_setting_and_exit_1(database_url: str) -> None:
    port = free_port()  # nothing listens there
    done = _start(kafka_bootstrap=f"127.0.0.1:{port}", database_url=database_url)
    assert done.returncode == 1, done.stderr
    assert (
        f"cannot start: cannot reach the Kafka broker at 127.0.0.1:{port}"
        " (GAMIFY_KAFKA_BOOTSTRAP)" in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_a_missing_database_is_named_without_the_password_and_exit_1(
    kafka: EmbeddedKafka | ApacheKafka, pg_admin_url: str
) -> None:
    admin = urlsplit(pg_admin_url)
    missing = f"missing_{uuid.uuid4().hex[:8]}"
    server = admin.netloc.rpartition("@")[2]  # host:port, or empty with ?host=<socket dir>
    login = f"{admin.username or 'postgres'}:s3cret-word@{server}"
    url = urlunsplit((admin.scheme, login, f"/{missing}", admin.query, ""))
    done = _start(
        kafka_bootstrap=kafka.bootstrap,
        database_url=url,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
    )
    assert done.returncode == 1, done.stderr
    host = admin.hostname or parse_qs(admin.query)["host"][0]
    where = f"{host}:{admin.port or 5432}/{missing}"
    assert f"cannot connect to PostgreSQL at {where} (GAMIFY_DATABASE_URL)" in done.stderr
    assert f'database "{missing}" does not exist' in done.stderr
    assert "s3cret-word" not in done.stderr and "Traceback" not in done.stderr


def test_database_address_keeps_host_port_and_name_only() -> None:
    assert (
        database_address("postgresql://u:pw@db.internal:6432/gamify") == "db.internal:6432/gamify"
    )
    assert database_address("postgresql://u@db/gamify") == "db:5432/gamify"
    assert database_address("postgresql:///gamify") == "localhost:5432/gamify"
    socket = "postgresql://postgres:@/gamify?host=/run/pg&port=6000"
    assert database_address(socket) == "/run/pg:6000/gamify"
