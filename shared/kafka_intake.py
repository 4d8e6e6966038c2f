"""Kafka intake: the consumer-group member that feeds a service's lanes, and the place where
its offsets are committed (after the database commit of their batch) and its lag measured.

It is written on aiokafka's public API rather than as a faststream subscriber, because it needs
two things a subscriber does not express: offsets committed per partition, by the lane that
applied the batch and only after that batch's database commit (not one acknowledgement per
fetched batch); and a service's first topics (the camps) handed out before whatever else was
fetched, so that a backlog's check-ins rarely reach a service before their camp.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from shared import topics
from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)

Submit = Callable[[Sequence[ConsumerRecord]], Awaitable[None]]
# Called when the member's partitions are about to move, with a bound in seconds: drop what
# was fetched and not yet applied, finish what is being applied (shared.lanes.Lanes.hand_over)
HandOver = Callable[[float], Awaitable[None]]
# A rebalance waits for the batches being applied this long before it goes on without them
# (well within the group's rebalance timeout: the other members wait meanwhile).
HAND_OVER_S = 10.0


class CoalescedCommits:
    """Offsets applied and not yet committed, sent by one commit at a time.

    A lane notes a batch's offsets after its database commit and goes on at once: it does not
    wait for the broker's answer (a round trip to a busy broker on every batch's path), and
    what the lanes note while a commit is in flight goes in the next one, the highest offset
    of each partition. An offset is still committed only after its batch's database commit;
    one lost in a crash is redelivered, which the inbox makes a no-op.

    After a commit the next one waits `interval_s` (GAMIFY_KAFKA_COMMIT_INTERVAL_MS): at a
    trickle the lanes apply some 170 batches a second, and a commit for each made the broker
    busier and the p99 longer (bench/README.md, Offset commits)."""

    def __init__(
        self,
        send: Callable[[dict[TopicPartition, int]], Awaitable[None]],
        interval_s: float = 0.0,
    ) -> None:
        self._send = send
        self._interval_s = interval_s
        self._pending: dict[TopicPartition, int] = {}
        self._wanted = asyncio.Event()

    def note(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, next_offset in offsets.items():
            self._pending[tp] = max(self._pending.get(tp, 0), next_offset)
        self._wanted.set()

    async def run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self.flush()
            except Exception:  # the next commit carries these offsets again
                log.exception("committing offsets failed")
            if self._interval_s > 0:
                await asyncio.sleep(self._interval_s)  # what is noted meanwhile goes next

    async def flush(self) -> None:
        """Commit what is noted; what a cancelled commit carried stays noted."""
        offsets = dict(self._pending)
        if not offsets:
            return
        await self._send(offsets)
        for tp, next_offset in offsets.items():
            if self._pending.get(tp) == next_offset:
                del self._pending[tp]


class KafkaIntake:
    """One group member: fetches batches, hands them to `submit`, commits what it is told."""

    def __init__(
        self,
        service: str,
        physical_topics: Sequence[str],
        first_topics: Collection[str],
        metrics: ServiceMetrics,
        prefix: str,
        max_records: int,
        batch_timeout_ms: int,
        on_failure: Callable[[BaseException], None],
        commit_interval_ms: int = 0,
        **consumer_options: Any,
    ) -> None:
        self._service = service
        self._topics = list(physical_topics)
        self._first = set(first_topics)
        self._metrics = metrics
        self._prefix = prefix
        self._max_records = max_records
        self._timeout_ms = batch_timeout_ms
        self._on_failure = on_failure
        self._options = consumer_options
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._commits = CoalescedCommits(self._commit_now, commit_interval_ms / 1000)
        self._committer: asyncio.Task[None] | None = None
        self._hand_over: HandOver | None = None

    async def start(self, submit: Submit, hand_over: HandOver) -> None:
        self._hand_over = hand_over
        self._consumer = AIOKafkaConsumer(
            enable_auto_commit=False, auto_offset_reset="earliest", **self._options
        )
        self._consumer.subscribe(self._topics, listener=_HandingOver(self))
        await self._consumer.start()
        self._task = asyncio.create_task(self._feed(submit), name=f"{self._service}-intake")
        self._committer = asyncio.create_task(self._commits.run(), name=f"{self._service}-commit")

    def assigned(self) -> bool:
        return self._consumer is not None and bool(self._consumer.assignment())

    async def _feed(self, submit: Submit) -> None:
        try:
            while True:
                records = await self._take()
                if records:
                    await submit(records)  # waits while the lanes are full
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the consumer is broken: the process must restart
            log.exception("the Kafka intake failed")
            self._on_failure(exc)

    async def _take(self) -> list[ConsumerRecord]:
        """What was fetched of the first topics (no wait), else a batch of anything."""
        assert self._consumer is not None
        first = [tp for tp in self._consumer.assignment() if tp.topic in self._first]
        if first:
            early = await self._consumer.getmany(
                *first, timeout_ms=0, max_records=self._max_records
            )
            if early:
                return list(chain.from_iterable(early.values()))
        batch = await self._consumer.getmany(
            timeout_ms=self._timeout_ms, max_records=self._max_records
        )
        return list(chain.from_iterable(batch.values()))

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """These partitions' offsets are applied (their batch is in the database): commit them
        soon, without waiting (CoalescedCommits)."""
        self._commits.note(offsets)

    async def _commit_now(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit, then update these partitions' lag. A refused commit (a rebalance) is
        counted: those batches will be redelivered."""
        consumer = self._consumer
        if consumer is None:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            self._metrics.commit_failures.labels(self._service).inc()
            log.warning("offset commit refused (%r); batch will be redelivered", exc)
        assigned = consumer.assignment()
        for tp, next_offset in offsets.items():
            if tp not in assigned:  # moved to another member meanwhile (a rebalance)
                continue
            high = consumer.highwater(tp)
            if high is not None:
                self._metrics.consumer_lag.labels(
                    self._service, topics.logical(self._prefix, tp.topic), str(tp.partition)
                ).set(max(high - next_offset, 0))

    async def hand_over(self) -> None:
        """Before a rebalance (the consumer has stopped fetching): let the lanes drop what they
        hold and finish what they apply, then commit what was applied, while the partitions
        are still this member's. Each partition's next owner starts from those offsets."""
        if self._hand_over is not None:
            await self._hand_over(HAND_OVER_S)
        try:
            await self._commits.flush()
        except Exception:  # the next owner applies those batches again: inbox no-ops
            log.exception("committing offsets before a rebalance failed")

    async def stop_fetching(self) -> None:
        """Take no more batches; what was fetched and not handed out is simply redelivered."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def stop(self) -> None:
        """Commit what the lanes applied, then leave the group."""
        await self.stop_fetching()
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._committer
            self._committer = None
        try:
            await self._commits.flush()  # a commit cancelled above left its offsets noted
        except Exception:
            log.exception("committing offsets at stop failed; those batches will be redelivered")
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


class _HandingOver(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's hook into a rebalance: it awaits these before the group moves on."""

    def __init__(self, intake: KafkaIntake) -> None:
        self._intake = intake

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            await self._intake.hand_over()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None
