"""The fault suite's harness: the four services as real processes (any number of replicas), a
seeded camp played through them as steady traffic, and the audit as the oracle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from gamify.audit import Auditor, AuditResult
from gamify.simulate.player import CampPlan, Player
from shared.settings import SERVICES, Settings
from tests.services import ServiceProcess

TIMED = {"GAMIFY_CLOCK": "topic", "GAMIFY_SCHEDULER_INTERVAL_S": "0.2"}


class Fleet:
    """Replicas of every service, each a `python -m services.NAME` process."""

    def __init__(
        self,
        settings: Settings,
        log_dir: Path,
        replicas: int | dict[str, int] = 1,
        **extra_env: str,
    ) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.env = {**TIMED, **extra_env}
        self.procs: dict[tuple[str, int], ServiceProcess] = {}
        self.restarts = 0
        for name in SERVICES:
            count = replicas if isinstance(replicas, int) else replicas.get(name, 1)
            for i in range(count):
                self.procs[(name, i)] = self._new(name, i)

    def _new(self, name: str, i: int) -> ServiceProcess:
        return ServiceProcess(name, self.settings, self.log_dir / f"{name}-{i}.log", **self.env)

    async def start(self) -> None:
        for p in self.procs.values():
            p.start()
        try:
            for p in self.procs.values():
                await p.ready(60)
        except BaseException:
            self.stop()  # no process outlives a failed start
            raise

    def kill(self, name: str, i: int = 0) -> None:
        self.procs[(name, i)].kill()

    async def restart(self, name: str, i: int = 0, wait_ready: bool = False) -> ServiceProcess:
        proc = self._new(name, i).start()
        self.procs[(name, i)] = proc
        self.restarts += 1
        if wait_ready:
            await proc.ready(60)
        return proc

    def stop(self) -> None:
        for p in self.procs.values():
            with contextlib.suppress(Exception):
                p.stop()

    def all_alive(self) -> bool:
        return all(p.proc is not None and p.proc.poll() is None for p in self.procs.values())


async def ready_status(port: int) -> int | None:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"http://127.0.0.1:{port}/health/ready", timeout=aiohttp.ClientTimeout(total=3)
            ) as r,
        ):
            return r.status
    except (aiohttp.ClientError, TimeoutError):
        return None


async def play_with(
    settings: Settings,
    plan: CampPlan,
    fault: Callable[[asyncio.Event], Awaitable[None]] | None = None,
    duplicate: bool = False,
) -> Player:
    """Play the camp as steady traffic while `fault(done)` breaks things until `done` is set."""
    done = asyncio.Event()
    async with Player(
        settings.kafka_bootstrap,
        settings.topic_prefix,
        settings.database_url,
        plan,
        duplicate=duplicate,
    ) as player:
        breaker = asyncio.create_task(fault(done)) if fault else None
        try:
            await player.play()
        finally:
            done.set()
            if breaker:
                await breaker
    return player


async def audit(settings: Settings) -> AuditResult:
    result = await Auditor(
        settings.kafka_bootstrap, settings.topic_prefix, settings.database_url
    ).run()
    assert result.differences == [], "\n".join(map(str, result.differences))
    assert result.ledger_rows > 0 and result.inputs > 0
    return result


def small_camp(seed: int, students: int = 30, days: int = 7) -> CampPlan:
    return CampPlan(camp_id=f"fault-{seed}", students=students, days=days, lessons=days, seed=seed)
