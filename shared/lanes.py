"""Batches of different partitions in flight at once.

One consumer hands out batches one at a time, and a batch usually holds one partition's
records. Applied one after another, each batch's Python work and its database round trips
take turns: neither the process nor PostgreSQL is ever busy for the whole batch. Lanes
overlap them: a batch goes to the lane of its partition number and the consumer goes on to
the next batch while the lane applies it.

That pays in a backlog. At a trickle each lane's batch holds a few records, its cost is mostly
its round trips, and two such transactions at once only slow each other down on a small
machine. There small batches take turns: one transaction at a time, which takes what waits in
its own lane and in every lane not busy (TAKE_TURNS_BELOW). A lane whose records a turn took
is busy until that transaction commits, so each partition is still applied in order.

Safety rests on three rules:
- a partition always goes to the same lane, and a lane applies its batches in order, so a
  partition's records are applied in order;
- a lane commits the offsets of a batch's own partitions, and only after that batch's
  database commit; earlier batches of those partitions were committed before (same lane, in
  order), so a committed offset never runs ahead of the database;
- by partition number, not topic and partition: the platform keys events by student, so one
  student's events on every topic share a partition number and a lane. Lanes then write
  disjoint students, exactly as replicas owning different partitions do, and what two lanes
  can share (a camp, an event_id reused on two partitions) is guarded as between replicas.

Records of the `first_topics` (definitions others depend on, e.g. camps) go ahead of what
already waits in their lane: the consumer fetches and queues a backlog's check-ins in
thousands before it reaches their camp's partition, and each of those would be parked until
the camp is applied. A topic's partitions are always first or never, so jumping the queue
keeps every partition in order.

A crash loses nothing: what was not committed is redelivered and the inbox makes it a no-op.

A rebalance hands partitions over before the batches queued for them are applied: the next
owner (this member again, perhaps) fetches them again from the last committed offset. So at
a hand-over (`hand_over`) the batches taken before it are dropped, not applied, and the
batches being applied finish first, so that their offsets are committed before the partitions
move: a rebalance redelivers nearly nothing, where it redelivered up to a full queue of each
lane (64 batches) to be applied twice, by the old member and the new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from itertools import count as counter

from aiokafka import ConsumerRecord, TopicPartition

log = logging.getLogger(__name__)

# A lane with fewer records waiting than this waits for the turn (at most TURN_WAIT_S), then
# takes them with what waits in every other lane not busy: at a trickle one transaction at a
# time of more records, instead of every lane busy with a few records each (bench/README.md,
# Lanes at a trickle). Bigger batches (a backlog) are applied at once, each in its lane.
TAKE_TURNS_BELOW = 64
TURN_WAIT_S = 0.1

Apply = Callable[[Sequence[ConsumerRecord]], Awaitable[None]]
# A batch waiting in a lane: (0 for first topics else 1, arrival number, the consumer's
# assignment it was fetched under, its records)
Queued = tuple[int, int, int, list[ConsumerRecord]]
Commit = Callable[[dict[TopicPartition, int]], Awaitable[None]]


def split_by_lane(records: Sequence[ConsumerRecord], lanes: int) -> dict[int, list[ConsumerRecord]]:
    """The records of each lane (partition number modulo `lanes`), in their order."""
    parts: dict[int, list[ConsumerRecord]] = {}
    for r in records:
        parts.setdefault(r.partition % lanes, []).append(r)
    return parts


def next_offsets(records: Sequence[ConsumerRecord]) -> dict[TopicPartition, int]:
    """The offsets to commit once these records are applied: one past each partition's last."""
    # A plain tuple per record, a TopicPartition per partition: 0.31 -> 0.07 us a record
    last: dict[tuple[str, int], int] = {}
    for r in records:
        key = (r.topic, r.partition)
        if r.offset >= last.get(key, -1):
            last[key] = r.offset
    return {TopicPartition(topic, partition): o + 1 for (topic, partition), o in last.items()}


class Lanes:
    """Applies batches in `count` lanes, each lane's batches in order, and commits each
    batch's offsets after its database commit.

    Up to `depth` batches wait per lane. A lane takes what waits for it at once, up to
    `max_records`, in one transaction: while it is busy, small batches (a steady trickle)
    gather into one instead of queueing one transaction each. Batches under
    `take_turns_below` records take turns across the lanes (see TAKE_TURNS_BELOW), waiting
    at most `turn_wait_s` for theirs.
    """

    def __init__(
        self,
        apply: Apply,
        commit: Commit,
        count: int,
        depth: int = 1,
        max_records: int = 500,
        on_failure: Callable[[BaseException], None] = lambda _exc: None,
        first_topics: Collection[str] = (),
        take_turns_below: int = TAKE_TURNS_BELOW,
        turn_wait_s: float = TURN_WAIT_S,
    ) -> None:
        self._apply = apply
        self._commit = commit
        self._max_records = max_records
        self._on_failure = on_failure
        self._first_topics = frozenset(first_topics)
        # (0 for first topics else 1, arrival number, assignment, records): first topics,
        # then arrival
        self._queues: list[asyncio.PriorityQueue[Queued]] = [
            asyncio.PriorityQueue(maxsize=depth) for _ in range(count)
        ]
        self._arrivals = counter()
        self._workers: list[asyncio.Task[None]] = []
        self._accepting = True
        self._failed = False
        # The consumer's assignments so far (hand-overs): a batch fetched under an earlier one
        # is fetched again by the partition's next owner, so it is dropped, not applied.
        self._assignment = 0
        self._applying: list[int | None] = [None] * count  # each lane's batch's assignment
        self._applied = asyncio.Condition()
        self._take_turns_below = min(take_turns_below, max_records)  # a full batch never waits
        self._turn_wait_s = turn_wait_s
        self._turn = asyncio.Lock()  # held by the one small batch being applied
        self._queued = [0] * count  # records waiting in each lane
        self._arrived = [asyncio.Event() for _ in range(count)]

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(i), name=f"lane-{i}") for i in range(len(self._queues))
        ]

    async def submit(self, records: Sequence[ConsumerRecord]) -> None:
        """Queue a batch (waiting while its lanes are full: backpressure on the consumer).

        After close() nothing is taken: those records were not committed and come again.
        The records belong to the assignment in force when this is called (the consumer
        hands them over as they are fetched), even if a hand-over comes while they wait."""
        assignment = self._assignment
        for lane, part in split_by_lane(records, len(self._queues)).items():
            first = [r for r in part if r.topic in self._first_topics]
            rest = [r for r in part if r.topic not in self._first_topics] if first else part
            for rank, records_of_rank in ((0, first), (1, rest)):
                if not records_of_rank:
                    continue
                if not self._accepting:
                    return
                await self._queues[lane].put(
                    (rank, next(self._arrivals), assignment, records_of_rank)
                )
                self._queued[lane] += len(records_of_rank)
                self._arrived[lane].set()

    async def hand_over(self, within_s: float) -> None:
        """The consumer's partitions are about to be reassigned: drop every batch taken so far
        that no lane has begun, and wait (at most `within_s`) for those being applied, so that
        their offsets are noted for commit before the partitions move. Past the bound they
        still finish; their commit is then refused and their records applied again by the
        next owner, which the inbox makes a no-op."""
        self._assignment += 1
        current = self._assignment
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s), self._applied:
                await self._applied.wait_for(
                    lambda: all(a is None or a >= current for a in self._applying)
                )

    async def close(self, grace_s: float) -> None:
        """Take nothing more, finish what is queued (offsets committed) for at most `grace_s`
        seconds, then stop."""
        self._accepting = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):  # not wait_for: see OutboxRelay.run
                await asyncio.gather(*(q.join() for q in self._queues))
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    def _stale(self, item: Queued) -> bool:
        """Whether `item` was taken before a hand-over: then it is dropped."""
        return item[2] < self._assignment

    async def _work(self, lane: int) -> None:
        queue = self._queues[lane]
        while True:
            while queue.empty():
                self._arrived[lane].clear()
                await self._arrived[lane].wait()
            if self._queued[lane] < self._take_turns_below and await self._take_turn():
                try:  # this lane's records, and those waiting in every lane not busy
                    await self._run(self._gather_free(lane))
                finally:
                    self._turn.release()
            else:
                async with self._applied:  # a turn may be applying this lane's records
                    await self._applied.wait_for(lambda: self._applying[lane] is None)
                await self._run({lane: self._gather(lane, self._max_records)[0]})

    async def _take_turn(self) -> bool:
        """Wait for the small batches' turn, at most turn_wait_s: whether it was given. A
        lane held up (a lock wait, a retry) holds a small batch of another back no longer."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._turn_wait_s):
                await self._turn.acquire()
                return True
        return False

    def _gather_free(self, lane: int) -> dict[int, list[Queued]]:
        """What waits in `lane`, then in every other lane not busy, up to max_records in all."""
        taken: dict[int, list[Queued]] = {}
        budget = self._max_records
        for i in [lane, *(i for i in range(len(self._queues)) if i != lane)]:
            if self._applying[i] is None and budget > 0:
                taken[i], size = self._gather(i, budget, at_least_one=i == lane)
                budget -= size
        return taken

    def _gather(
        self, lane: int, budget: int, at_least_one: bool = True
    ) -> tuple[list[Queued], int]:
        """What waits in `lane`, in order, up to `budget` records (or its first batch alone,
        if `at_least_one`), and how many records that is; stale batches are taken and count
        for nothing."""
        queue, taken, size = self._queues[lane], [], 0
        while not queue.empty():
            item = queue.get_nowait()
            if not self._stale(item):
                if size + len(item[3]) > budget and (size or not at_least_one):
                    queue.put_nowait(item)  # back in its place: the queue orders by arrival
                    queue.task_done()  # for that put, which counts as a new task
                    break
                size += len(item[3])
            self._queued[lane] -= len(item[3])
            taken.append(item)
        return taken, size

    async def _run(self, taken: dict[int, list[Queued]]) -> None:
        """Apply in one transaction the records taken from each lane (but those stale by
        now) and commit their offsets; the lanes are busy meanwhile."""
        items = sorted(item for lane_items in taken.values() for item in lane_items)
        records = [r for item in items if not self._stale(item) for r in item[3]]
        busy = [lane for lane, lane_items in taken.items() if lane_items]
        for lane in busy:
            self._applying[lane] = self._assignment  # that of every item not stale
        try:
            if records and not self._failed:
                await self._apply(records)  # returns once committed (retrying meanwhile)
                await self._commit(next_offsets(records))
        except Exception as exc:
            # Not expected (the processor retries and dead-letters), but if it happens a
            # later batch of these partitions must not commit past these records: take
            # nothing more and let the runtime stop; the records come again on restart.
            log.critical("a lane failed on a batch of %d records; stopping", len(records))
            self._accepting, self._failed = False, True
            self._on_failure(exc)
        finally:
            for lane in busy:
                self._applying[lane] = None
                for _ in taken[lane]:
                    self._queues[lane].task_done()
            async with self._applied:
                self._applied.notify_all()
