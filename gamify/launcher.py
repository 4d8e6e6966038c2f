"""Service processes: the one way to start `python -m services.NAME`, wait until it is ready
and stop it, for `gamify dev`, the simulator, the benchmark and the tests alike."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

from shared.settings import SERVICES

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["ROOT", "SERVICES", "ServiceProcess", "service_env", "service_inputs", "stop_all"]


def service_inputs(name: str) -> list[str]:
    """The topics service `name` consumes (its handler's INPUTS)."""
    import importlib

    return list(importlib.import_module(f"services.{name}.handlers").INPUTS)


def service_env(settings: Mapping[str, str], inherit_gamify: bool = False) -> dict[str, str]:
    """The process environment: this one's (without its GAMIFY_ settings unless
    `inherit_gamify`), then `settings` (GAMIFY_ variables)."""
    base = {k: v for k, v in os.environ.items() if inherit_gamify or not k.startswith("GAMIFY_")}
    return {**base, **settings}


class ServiceProcess:
    """One service process, its HTTP port (health, metrics) and its log."""

    def __init__(
        self,
        name: str,
        port: int,
        env: Mapping[str, str],
        log_path: Path | None = None,
        own_session: bool = False,
        argv: Sequence[str] | None = None,
    ) -> None:
        if name not in SERVICES:
            raise ValueError(f"no service {name!r}; the services are {', '.join(SERVICES)}")
        self.name = name
        self.port = port
        self.env = {**env, "GAMIFY_HTTP_PORT": str(port)}
        self.log_path = log_path
        self._own_session = own_session  # gamify dev: Ctrl-C reaches only gamify dev itself
        # what python runs: the service's package, or a module that wraps it (the fault tests)
        self._argv = list(argv) if argv else ["-m", f"services.{name}"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [sys.executable, *self._argv],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                start_new_session=self._own_session,
            )
        finally:
            if log:
                log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "start() first"
        return self.proc.pid

    def exited(self) -> int | None:
        """The exit status once the process has ended, else None."""
        return None if self.proc is None else self.proc.poll()

    async def ready(self, limit_s: float = 60.0) -> None:
        """Until /health/ready answers 200 (database up, partitions assigned); raises if the
        process exits first or the time runs out, naming its log."""
        deadline = time.monotonic() + limit_s
        where = f"; see {self.log_path}" if self.log_path else ""
        async with aiohttp.ClientSession() as http:
            while True:
                if self.exited() is not None:
                    raise RuntimeError(f"the {self.name} service exited ({self.exited()}){where}")
                try:
                    url = f"http://127.0.0.1:{self.port}/health/ready"
                    async with http.get(url) as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the {self.name} service did not become ready{where}")
                await asyncio.sleep(0.2)

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM: it finishes its batches and commits), without waiting."""
        if self.exited() is None and self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 20.0) -> int:
        """Its exit status, killing it if it has not stopped within `timeout`."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc is None:
            return 0
        self.terminate()
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: a crash, for the fault tests."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def stop_all(processes: list[ServiceProcess], timeout: float = 20.0) -> None:
    """Stop them together: every one asked first, then each waited for."""
    for p in processes:
        p.terminate()
    deadline = time.monotonic() + timeout
    for p in processes:
        if p.proc is not None:
            p.wait(max(deadline - time.monotonic(), 0.1))
