"""The current time: the wall clock, or the latest tick on `gamify.clock` (simulated time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from shared.events import ClockTick
from shared.topics import partitions_of

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class WallClock:
    """Production time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class TopicClock:
    """Time taken from the latest (greatest) tick on the clock topic.

    Every instance reads the whole topic without a consumer group, so all services and replicas
    agree on "now". Before the first tick, now() is the epoch: nothing is due yet. Time never
    goes backwards: an older tick arriving late is ignored.
    """

    def __init__(self, bootstrap: str, topic: str, **client_options: object) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options
        )
        self._topic = topic
        self._bootstrap = bootstrap
        # The connection's own options (security), for the admin client that lists partitions.
        self._options = {
            k: v for k, v in client_options.items() if k.startswith(("security", "ssl", "sasl"))
        }
        self._now = EPOCH
        self._task: asyncio.Task[None] | None = None
        self.ticked = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    async def start(self) -> None:
        await self._consumer.start()
        partitions = await partitions_of(self._bootstrap, self._topic, **self._options)
        assigned = [TopicPartition(self._topic, p) for p in partitions]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        self._task = asyncio.create_task(self._follow(), name="clock")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def advance(self, value: bytes | None) -> None:
        """Take one tick; malformed ticks are logged and skipped (the clock is ours, not input)."""
        try:
            tick = ClockTick.model_validate_json(value or b"")
        except ValidationError as exc:
            log.warning("ignoring malformed clock tick %r: %s", value, exc.errors()[0]["msg"])
            return
        if tick.now > self._now:
            self._now = tick.now
            self.ticked.set()

    async def _follow(self) -> None:
        async for record in self._consumer:
            self.advance(record.value)


async def every_pass(
    work: Callable[[], Awaitable[object]], clock: Clock, interval_s: float, what: str
) -> None:
    """Run `work` again and again: after each pass, until the next clock tick (topic clock) or
    `interval_s`; after a failure, after a back-off. Time-driven work outlives any one failure
    because what it acts on stays in the database."""
    backoff = 0.5
    while True:
        began_at = clock.now()
        try:
            await work()
            backoff = 0.5
        except Exception:
            log.exception("%s failed; retrying in %.1fs", what, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
            continue
        if isinstance(clock, TopicClock):
            # A tick that came during the pass is not waited for again: the pass may have
            # read the time before it (and the loops of one process share the event).
            if clock.now() == began_at:
                clock.ticked.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(interval_s):  # not wait_for: see OutboxRelay.run
                        await clock.ticked.wait()
        else:
            await asyncio.sleep(interval_s)
