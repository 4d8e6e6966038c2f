"""The current time: the wall clock, or the latest tick on `gamify.clock` (simulated time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from shared.events import ClockTick

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
        self._now = EPOCH
        self._task: asyncio.Task[None] | None = None
        self.ticked = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    async def start(self) -> None:
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(self._topic) or {0}
        assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
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
