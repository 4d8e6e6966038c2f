"""A service as a real process for crash and e2e tests: the launcher's ServiceProcess, with the
environment made from a test's Settings."""

from __future__ import annotations

from pathlib import Path

from gamify.launcher import ServiceProcess as _Launched
from gamify.launcher import service_env as _env
from shared.embedded import free_port
from shared.settings import Settings


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    return _env(
        {
            "GAMIFY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "GAMIFY_DATABASE_URL": settings.database_url,
            "GAMIFY_TOPIC_PREFIX": settings.topic_prefix,
            "GAMIFY_BATCH_TIMEOUT_MS": str(settings.batch_timeout_ms),
            "GAMIFY_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
            "GAMIFY_KAFKA_HEARTBEAT_MS": str(settings.kafka_heartbeat_ms),
            **extra,
        }
    )


class ServiceProcess(_Launched):
    """`GAMIFY_FAULT=<fault>` among the settings runs the service with that fault put in by
    tests/faults/inject.py (production code has no fault branches)."""

    def __init__(
        self, name: str, settings: Settings, log_path: Path | None = None, **extra_env: str
    ) -> None:
        fault = extra_env.pop("GAMIFY_FAULT", None)
        super().__init__(
            name,
            free_port(),
            service_env(settings, **extra_env),
            log_path,
            argv=["-m", "tests.faults.inject", name, fault] if fault else None,
        )

    def start(self) -> ServiceProcess:
        super().start()
        return self

    async def ready(self, limit_s: float = 30.0) -> None:
        await super().ready(limit_s)
