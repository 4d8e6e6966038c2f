"""Settings of every service and command, read from `GAMIFY_*` environment variables."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The services, the one list of them (each is the package services/<name>).
SERVICES = ("points", "badges", "nudges", "contests")
DEFAULT_PORTS = {name: 9101 + i for i, name in enumerate(SERVICES)}


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable and the fix."""


class Settings(BaseSettings):
    """One service instance's configuration. Defaults fit `gamify dev` on one machine."""

    model_config = SettingsConfigDict(env_prefix="GAMIFY_", extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", min_length=1)
    database_url: str = Field("postgresql://postgres@127.0.0.1:5432/gamify", min_length=1)
    topic_prefix: str = ""
    topic_partitions: int = Field(3, ge=1, le=1000)
    topic_replication: int = Field(1, ge=1, le=10)
    kafka_session_timeout_ms: int = Field(10_000, ge=1000, le=300_000)
    kafka_heartbeat_ms: int = Field(3_000, ge=100, le=100_000)
    # How long the broker may hold a fetch that finds nothing new. Apache Kafka answers as soon
    # as data arrives. The embedded broker re-reads at half the time left, so an empty fetch
    # can add up to half of it; and it must list every stored batch of each partition within
    # this wait, or it answers without the partitions it did not reach (see README,
    # Performance): 40 ms halved the p99 at 1,000 events/s against 20.
    kafka_fetch_max_wait_ms: int = Field(40, ge=0, le=60_000)
    # A fetch waits at the broker until it finds this many bytes (or the wait passes). With 1
    # a trickle is fetched a record or two at a time: hundreds of requests a second at 1,000
    # events/s, each encoded and decoded in Python over every input partition. 2 KB (about ten
    # events) cut points' CPU at that rate by a fifth on Apache Kafka and a quarter on the
    # embedded broker, p50 no worse. Below some 200 events/s a fetch waits out the fetch wait
    # instead, up to 40 ms more per hop (bench/README.md, A steady trickle). 64 KB with a 20 ms
    # wait: for where CPU is short.
    kafka_fetch_min_bytes: int = Field(2048, ge=1, le=64 * 1024 * 1024)
    # Offsets are committed after their batch's database commit, at most once per this
    # interval (what is applied meanwhile goes in the next commit). A commit per batch (some
    # 170 a second at 1,000 events/s) cost Apache Kafka 0.1 cores and points 30 ms of p99
    # (bench/README.md, Offset commits). A crash redelivers up to this much more, which the
    # inbox makes a no-op. 0: a commit as soon as the last one is answered.
    kafka_commit_interval_ms: int = Field(250, ge=0, le=60_000)
    # The outbox relay's producer: idempotent where the broker supports it (Apache Kafka), so a
    # send retried after a lost acknowledgement is not written twice; `auto` falls back to a
    # plain producer, with a warning, where the broker refuses (the embedded one).
    kafka_idempotence: Literal["auto", "on", "off"] = "auto"
    clock: Literal["wall", "topic"] = "wall"
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(None, ge=0, le=65535)
    # /metrics on a port of its own (unset: beside the read API), so that a network policy
    # can let the scraper reach the metrics and only the read API's clients reach the API.
    metrics_port: int | None = Field(None, ge=0, le=65535)
    # Group members per process: each takes its share of the partitions and runs its own
    # batches, so one's database round trips overlap the other's Python work. Keep 1 on the
    # embedded broker: its group coordinator can stall a restarted process with two members.
    consumers: int = Field(1, ge=1, le=16)
    # Transactions one batch is applied in at once, its partitions shared among them (see
    # shared.lanes.split_by_lane): while one waits for the database, another runs. At a
    # trickle the lanes' small batches take turns instead (shared.lanes.TAKE_TURNS_BELOW).
    batch_lanes: int = Field(2, ge=1, le=16)
    batch_max_records: int = Field(500, ge=1, le=10_000)
    batch_timeout_ms: int = Field(50, ge=1, le=60_000)
    # Outbox rows the relay claims and publishes at once: each holds one transaction's output
    # events (up to shared.outbox.ROW_EVENTS of them).
    relay_claim_rows: int = Field(16, ge=1, le=1_000)
    # Connections per process: each consumer's lanes, the outbox relay, the read API and any
    # scheduler take one each at once.
    db_pool_size: int = Field(6, ge=1, le=100)
    # Inbox rows older than this are deleted (shared.retention); keep it above the input
    # topics' retention. 0 keeps them forever.
    inbox_retention_days: int = Field(30, ge=0, le=36_500)
    inbox_prune_every_s: float = Field(600.0, gt=0, le=86_400)
    # Allocations between collections of Python's youngest generation; 0 leaves the collector
    # as Python sets it (700). See shared.main.tune_gc for the trade.
    gc_gen0_threshold: int = Field(50_000, ge=0, le=10_000_000)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    rules_file: Path | None = None  # points rules (YAML)
    badges_file: Path | None = None  # badge definitions (YAML)
    nudges_file: Path | None = None  # nudges: quiet hours, caps, templates (YAML)
    scheduler_interval_s: float = Field(1.0, gt=0, le=60)
    consumer_group: str | None = None  # default: <topic prefix>gamify-<service>
    instance_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    contests_file: Path | None = None  # contests: vote cap, prize gifts, rings (YAML)
    # How many days after the day itself a make-up check-in still counts (None: no limit).
    # One setting for every service, so that points, badges and segments agree.
    makeup_window_days: int | None = Field(None, ge=0, le=366)
    # At most this many days of leave per student and camp count (the first ones by camp day;
    # None: no cap). One setting for every service, like the make-up window.
    leave_max_days: int | None = Field(None, ge=0, le=366)

    # Security. PostgreSQL TLS goes in the URL itself (asyncpg reads libpq's parameters):
    # ?sslmode=verify-full&sslrootcert=/etc/gamify/pg-ca.pem, plus sslcert/sslkey for mTLS.
    database_password: SecretStr | None = None  # instead of a password inside the URL
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None  # the broker's CA; the system's CAs when unset
    kafka_ssl_certfile: Path | None = None  # client certificate (mutual TLS)
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    http_token: SecretStr | None = None  # when set, read API routes need "Bearer <token>"
    # The read API serves students' names, balances and messages: bound beyond loopback it
    # needs GAMIFY_HTTP_TOKEN, unless this says it is meant to be open.
    http_open: bool = False

    @field_validator("database_url")
    @classmethod
    def _is_postgres(cls, url: str) -> str:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a PostgreSQL URL, e.g. postgresql://gamify@db:5432/gamify")
        return url

    @model_validator(mode="after")
    def _security_is_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"kafka_security_protocol {self.kafka_security_protocol} needs"
                " GAMIFY_KAFKA_SASL_USERNAME and GAMIFY_KAFKA_SASL_PASSWORD"
            )
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"GAMIFY_{name.upper()}: no such file {str(path)!r}")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("GAMIFY_KAFKA_SSL_CERTFILE and GAMIFY_KAFKA_SSL_KEYFILE go together")
        return self

    @model_validator(mode="after")
    def _api_behind_a_door(self) -> Settings:
        if self.http_token is None and not self.http_open and not _loopback(self.http_host):
            raise ValueError(
                f"GAMIFY_HTTP_HOST={self.http_host} opens the read API (students' names,"
                " balances and messages) beyond this machine: set GAMIFY_HTTP_TOKEN, or"
                " GAMIFY_HTTP_OPEN=true if it is meant to be open"
            )
        return self

    @model_validator(mode="after")
    def _pool_fits_lanes(self) -> Settings:
        needed = self.consumers * self.batch_lanes + 2  # + the relay and the read API
        if self.db_pool_size < needed:
            raise ValueError(
                f"GAMIFY_DB_POOL_SIZE={self.db_pool_size} is too small for"
                f" GAMIFY_CONSUMERS={self.consumers} x GAMIFY_BATCH_LANES={self.batch_lanes}:"
                f" set it to at least {needed}"
            )
        return self

    def port_for(self, service: str) -> int:
        """The HTTP port (metrics, health, read API) of `service`."""
        return self.http_port if self.http_port is not None else DEFAULT_PORTS.get(service, 9100)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; raise SettingsError naming each wrong variable and what it takes."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            if not err["loc"]:  # a rule across several settings: its message names them
                lines.append(err["msg"].removeprefix("Value error, "))
                continue
            name = "GAMIFY_" + "_".join(str(p) for p in err["loc"]).upper()
            shown = os.environ.get(name, err.get("input"))
            if any(w in name for w in ("PASSWORD", "TOKEN")):
                shown = "***"
            elif isinstance(shown, str):
                shown = redact_url(shown)
            lines.append(f"{name}={shown!r}: {err['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None


def redact_url(url: str) -> str:
    """`url` with any password replaced by ***, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
