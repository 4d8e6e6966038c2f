"""Running a service as a real process (python -m services.NAME), for crash and e2e tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from shared.embedded import free_port
from shared.settings import Settings
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]


def service_env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMIFY_")}
    env.update(
        {
            "GAMIFY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "GAMIFY_DATABASE_URL": settings.database_url,
            "GAMIFY_TOPIC_PREFIX": settings.topic_prefix,
            "GAMIFY_HTTP_PORT": str(port),
            "GAMIFY_BATCH_TIMEOUT_MS": str(settings.batch_timeout_ms),
            "GAMIFY_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
            "GAMIFY_KAFKA_HEARTBEAT_MS": str(settings.kafka_heartbeat_ms),
            **extra,
        }
    )
    return env


class ServiceProcess:
    def __init__(
        self, name: str, settings: Settings, log_path: Path | None = None, **extra_env: str
    ) -> None:
        self.name = name
        self.port = free_port()
        self._env = service_env(settings, self.port, **extra_env)
        self._log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        log = open(self._log_path, "ab") if self._log_path else None  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"],
                env=self._env,
                cwd=ROOT,
                stderr=log,
            )
        finally:
            if log:
                log.close()
        return self

    async def ready(self, timeout: float = 30.0) -> None:
        async def is_ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}")
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{self.port}/health/ready") as resp,
                ):
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(is_ready, timeout, f"{self.name} ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
