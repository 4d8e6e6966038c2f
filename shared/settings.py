"""Settings of every service and command, read from `GAMIFY_*` environment variables."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORTS = {"points": 9101, "badges": 9102, "nudges": 9103, "contests": 9104}


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
    clock: Literal["wall", "topic"] = "wall"
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(None, ge=0, le=65535)
    batch_max_records: int = Field(500, ge=1, le=10_000)
    batch_timeout_ms: int = Field(50, ge=1, le=60_000)
    relay_batch: int = Field(500, ge=1, le=10_000)
    db_pool_size: int = Field(4, ge=1, le=100)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    rules_file: Path | None = None  # points rules (YAML)
    badges_file: Path | None = None  # badge definitions (YAML)
    nudges_file: Path | None = None  # nudges: quiet hours, caps, templates (YAML)
    scheduler_interval_s: float = Field(1.0, gt=0, le=60)
    instance_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    # Test-only fault injection: exit between the database and the offset commit, hold each
    # batch's transaction open 20 ms so that a kill lands inside one, or exit while a contest
    # week is being closed (before its commit). Never set in production.
    fault: Literal["exit-after-db-commit", "slow-commit", "exit-mid-close"] | None = None
    contests_file: Path | None = None  # contests: vote cap, prize gifts, rings (YAML)

    def port_for(self, service: str) -> int:
        """The HTTP port (metrics, health, read API) of `service`."""
        return self.http_port if self.http_port is not None else DEFAULT_PORTS.get(service, 9100)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; raise SettingsError naming each wrong variable and what it takes."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "GAMIFY_" + "_".join(str(p) for p in err["loc"]).upper()
            shown = os.environ.get(name, err.get("input"))
            lines.append(f"{name}={shown!r}: {err['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
