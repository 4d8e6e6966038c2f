"""A stop step that never finishes is abandoned after its bound: a stop always ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import pytest

from services.points.app import create_app
from shared.clock import TopicClock, every_pass
from shared.events import ClockTick
from shared.metrics import ServiceMetrics
from shared.outbox import OutboxRelay
from shared.service import _within
from shared.settings import load_settings


async def test_a_step_that_never_finishes_is_abandoned_within_its_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = time.monotonic()
    assert await _within(0.05, "a stuck step", asyncio.Event().wait()) is False
    assert time.monotonic() - started < 1.0
    assert "a stuck step did not finish" in caplog.text


async def test_a_step_that_finishes_is_awaited_to_its_end() -> None:
    done: list[bool] = []

    async def step() -> None:
        await asyncio.sleep(0.01)
        done.append(True)

    assert await _within(1.0, "a quick step", step()) is True
    assert done == [True]


async def test_the_relay_stops_when_cancelled_as_its_idle_wait_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python 3.11's wait_for drops a cancellation that arrives as the awaited thing finishes
    (here: a commit wakes the relay in the same turn as the stop cancels it); the relay then
    went on forever and the service's stop with it."""
    relay = OutboxRelay("t", None, None, ServiceMetrics("t"))  # type: ignore[arg-type]

    async def nothing_to_publish() -> int:
        return 0

    async def no_backlog(published: int) -> None:
        return None

    monkeypatch.setattr(relay, "publish_once", nothing_to_publish)
    monkeypatch.setattr(relay, "_refresh_backlog", no_backlog)
    for task in await _cancelled_as_the_wait_ends(relay.run, relay.wake):
        assert task.cancelled()


async def _cancelled_as_the_wait_ends(
    loop: Callable[[], Coroutine[Any, Any, None]], end_the_wait: Callable[[], None]
) -> list[asyncio.Task[None]]:
    """20 times: start `loop`, let it wait, end its wait and cancel it in the same turn; each
    time it must stop within a second. Returns the stopped tasks."""
    stopped = []
    for _ in range(20):
        task = asyncio.create_task(loop())
        await asyncio.sleep(0.01)  # waiting
        end_the_wait()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1.0)
        assert done == {task}, "the loop did not stop"
        stopped.append(task)
    return stopped


async def test_a_clock_driven_loop_stops_when_cancelled_as_its_tick_arrives() -> None:
    clock = TopicClock.__new__(TopicClock)  # only its tick event, no consumer
    clock.ticked = asyncio.Event()

    async def work() -> None:
        return None

    await _cancelled_as_the_wait_ends(
        lambda: every_pass(work, clock, 5.0, "test work"), clock.ticked.set
    )


async def test_a_tick_during_a_pass_starts_the_next_pass_without_waiting() -> None:
    """The pass may have read the time before the tick: it runs again at once, not after its
    interval (here a minute) or the tick after."""
    clock = TopicClock.__new__(TopicClock)
    clock.ticked = asyncio.Event()
    clock._now = datetime(2026, 12, 1, tzinfo=UTC)
    passes: list[datetime] = []

    async def work() -> None:
        passes.append(clock.now())
        if len(passes) == 1:  # a tick arrives while the first pass runs
            clock.advance(
                ClockTick(now=datetime(2026, 12, 2, tzinfo=UTC)).model_dump_json().encode()
            )

    task = asyncio.create_task(every_pass(work, clock, 60.0, "test work"))
    try:
        for _ in range(100):
            if len(passes) >= 2:
                break
            await asyncio.sleep(0.01)
        assert passes == [datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class _AnsweringPool:
    """Answers the readiness query when the test says so."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()

    async def fetchval(self, sql: str) -> bool:
        await self.answer.wait()
        self.answer.clear()
        return True


async def test_the_readiness_watch_stops_when_cancelled_as_the_database_answers() -> None:
    """The hang seen in CI: a service's stop waited forever for this watch, which had taken
    the database's answer instead of its cancellation."""
    runtime = create_app(load_settings())
    pool = _AnsweringPool()
    runtime._pool = pool  # type: ignore[assignment]
    await _cancelled_as_the_wait_ends(
        lambda: runtime._watch_readiness(every_s=0.01), pool.answer.set
    )
