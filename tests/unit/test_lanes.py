"""Lanes: partitions applied in parallel, each in order, offsets committed after the apply."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from shared.lanes import Lanes, next_offsets, split_by_lane


def rec(partition: int, offset: int, topic: str = "t") -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])


class Journal:
    """Records what the lanes did, in order; `gate` holds back applies of one partition."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.hold: dict[int, asyncio.Event] = {}

    async def apply(self, records: Sequence[ConsumerRecord]) -> None:
        self.events.append(("apply-start", [(r.partition, r.offset) for r in records]))
        gate = self.hold.get(records[0].partition)
        if gate is not None:
            await gate.wait()
        self.events.append(("applied", [(r.partition, r.offset) for r in records]))

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.events.append(("commit", {tp.partition: o for tp, o in offsets.items()}))


async def partition_0_held(journal: Journal, **options: Any) -> Lanes:
    """Started lanes whose first batch, partition 0's offset 0, is taken and held in its
    apply until `journal.hold[0]` is set."""
    journal.hold[0] = asyncio.Event()
    lanes = Lanes(journal.apply, journal.commit, **options)
    lanes.start()
    await lanes.submit([rec(0, 0)])
    await asyncio.sleep(0.01)
    return lanes


def test_split_by_partition_number_and_next_offsets() -> None:
    records = [rec(0, 5), rec(1, 7), rec(2, 9), rec(0, 6), rec(3, 1, topic="u")]
    lanes = split_by_lane(records, 2)
    assert [(r.partition, r.offset) for r in lanes[0]] == [(0, 5), (2, 9), (0, 6)]
    assert [(r.partition, r.offset) for r in lanes[1]] == [(1, 7), (3, 1)]
    assert next_offsets(lanes[0]) == {TopicPartition("t", 0): 7, TopicPartition("t", 2): 10}
    assert next_offsets([rec(0, 6), rec(0, 5)]) == {TopicPartition("t", 0): 7}


async def test_a_blocked_lane_holds_a_full_batch_of_the_other_back_not_at_all() -> None:
    journal = Journal()
    journal.hold[0] = asyncio.Event()
    lanes = Lanes(journal.apply, journal.commit, count=2, depth=4, max_records=2)
    lanes.start()
    await lanes.submit([rec(0, 0), rec(0, 1)])
    await lanes.submit([rec(1, 0), rec(1, 1)])  # full (max_records): it takes no turn
    await asyncio.sleep(0.05)
    # Partition 1 went through while partition 0 was still being applied, and nothing of
    # partition 0 was committed before its apply finished.
    assert ("commit", {1: 2}) in journal.events
    assert not any(kind == "commit" and 0 in what for kind, what in journal.events)  # type: ignore[operator]
    journal.hold[0].set()
    await lanes.close(grace_s=1.0)
    assert journal.events.index(("applied", [(0, 0), (0, 1)])) < journal.events.index(
        ("commit", {0: 2})
    )


async def test_small_batches_take_turns_and_a_blocked_one_holds_no_other_back_for_long() -> None:
    journal = Journal()
    # partition 0 (lane 0) taken, and held: its turn with it
    lanes = await partition_0_held(journal, count=2, depth=8, turn_wait_s=0.3)
    await lanes.submit([rec(1, 0)])
    await asyncio.sleep(0.1)
    assert ("apply-start", [(1, 0)]) not in journal.events  # lane 1 waits for its turn
    await lanes.submit([rec(1, 1), rec(3, 0)])  # gathered meanwhile: taken with it
    await asyncio.sleep(0.4)  # past the turn's wait: lane 1 goes on without it
    assert ("applied", [(1, 0), (1, 1), (3, 0)]) in journal.events
    assert ("commit", {1: 2, 3: 1}) in journal.events
    journal.hold[0].set()
    await lanes.close(grace_s=1.0)
    assert ("commit", {0: 1}) in journal.events


async def test_small_batches_waiting_in_both_lanes_go_in_one_transaction() -> None:
    journal = Journal()
    # lane 0 applies partition 0, held: the turn is its
    lanes = await partition_0_held(journal, count=2, depth=8)
    await lanes.submit([rec(1, 0)])  # lane 1: waits for the turn
    await lanes.submit([rec(2, 0), rec(0, 1)])  # lane 0, busy: these wait
    await lanes.submit([rec(3, 0)])
    journal.hold[0].set()
    await lanes.close(grace_s=1.0)
    applied = [what for kind, what in journal.events if kind == "applied"]
    assert applied == [[(0, 0)], [(1, 0), (2, 0), (0, 1), (3, 0)]]  # in order of arrival
    commits = [what for kind, what in journal.events if kind == "commit"]
    assert commits == [{0: 1}, {1: 1, 2: 1, 0: 2, 3: 1}]


async def test_small_batches_of_both_lanes_never_run_at_once() -> None:
    running, most = 0, 0

    async def apply(records: Sequence[ConsumerRecord]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.005)
        running -= 1

    async def commit(offsets: dict[TopicPartition, int]) -> None:
        pass

    lanes = Lanes(apply, commit, count=2, depth=8)
    lanes.start()
    for offset in range(20):
        await lanes.submit([rec(p, offset) for p in range(4)])
        await asyncio.sleep(0.002)
    await lanes.close(grace_s=2.0)
    assert most == 1


async def test_a_partition_is_applied_in_order_and_waiting_batches_are_taken_together() -> None:
    journal = Journal()
    # taken, and held
    lanes = await partition_0_held(journal, count=2, depth=8, max_records=3)
    for offset in range(1, 5):  # these wait meanwhile, then go 3 + 1 (max_records 3)
        await lanes.submit([rec(0, offset)])
    journal.hold[0].set()
    await lanes.close(grace_s=1.0)
    applied = [what for kind, what in journal.events if kind == "applied"]
    assert applied == [[(0, 0)], [(0, 1), (0, 2), (0, 3)], [(0, 4)]]
    commits = [what for kind, what in journal.events if kind == "commit"]
    assert commits == [{0: 1}, {0: 4}, {0: 5}]


async def test_a_failed_apply_stops_the_lanes_without_committing_past_it() -> None:
    journal = Journal()
    failures: list[BaseException] = []

    async def apply(records: Sequence[ConsumerRecord]) -> None:
        if records[0].offset == 1:
            raise RuntimeError("boom")
        await journal.apply(records)

    lanes = Lanes(
        apply, journal.commit, count=1, depth=8, max_records=1, on_failure=failures.append
    )
    lanes.start()
    for offset in range(3):
        await lanes.submit([rec(0, offset)])
    await lanes.close(grace_s=1.0)
    assert [str(f) for f in failures] == ["boom"]
    commits = [what for kind, what in journal.events if kind == "commit"]
    assert commits == [{0: 1}]  # offset 2 was never applied nor committed past offset 1
    await lanes.submit([rec(0, 3)])  # closed: taken no more (it will be redelivered)
    assert ("applied", [(0, 3)]) not in journal.events


async def test_close_finishes_what_is_queued() -> None:
    journal = Journal()
    lanes = Lanes(journal.apply, journal.commit, count=2, depth=8, max_records=1)
    lanes.start()
    for p in range(4):
        await lanes.submit([rec(p, 0), rec(p, 1)])
    await lanes.close(grace_s=1.0)
    commits = {p: o for kind, what in journal.events if kind == "commit" for p, o in what.items()}  # type: ignore[union-attr]
    assert commits == {0: 2, 1: 2, 2: 2, 3: 2}


@pytest.mark.parametrize("count", [1, 2, 3])
async def test_every_record_is_committed_once_applied(count: int) -> None:
    journal = Journal()
    lanes = Lanes(journal.apply, journal.commit, count=count, depth=2, max_records=4)
    lanes.start()
    for offset in range(0, 30, 3):
        await lanes.submit([rec(p, o) for p in range(6) for o in range(offset, offset + 3)])
    await lanes.close(grace_s=2.0)
    applied = [pair for kind, what in journal.events if kind == "applied" for pair in what]  # type: ignore[attr-defined]
    assert sorted(applied) == [(p, o) for p in range(6) for o in range(30)]
    for p in range(6):  # each partition's records in order
        assert [o for q, o in applied if q == p] == list(range(30))
    final = {p: o for kind, what in journal.events if kind == "commit" for p, o in what.items()}  # type: ignore[union-attr]
    assert final == dict.fromkeys(range(6), 30)


async def test_first_topics_go_ahead_of_what_waits_and_every_partition_stays_in_order() -> None:
    journal = Journal()
    journal.hold[0] = asyncio.Event()
    lanes = Lanes(
        journal.apply, journal.commit, count=2, depth=8, max_records=2, first_topics={"camps"}
    )
    lanes.start()
    await lanes.submit([rec(0, 0)])
    await asyncio.sleep(0.01)  # taken, and held: what follows waits in lane 0
    for offset in range(1, 5):
        await lanes.submit([rec(0, offset)])
    # one batch of both kinds: its camps record jumps the queue, its check-in does not
    await lanes.submit([rec(0, 5), rec(2, 0, topic="camps"), rec(2, 1, topic="camps")])
    journal.hold[0].set()
    await lanes.close(grace_s=1.0)
    applied = [what for kind, what in journal.events if kind == "applied"]
    assert applied == [[(0, 0)], [(2, 0), (2, 1)], [(0, 1), (0, 2)], [(0, 3), (0, 4)], [(0, 5)]]
    final = {p: o for kind, what in journal.events if kind == "commit" for p, o in what.items()}  # type: ignore[union-attr]
    assert final == {0: 6, 2: 2}


async def test_without_first_topics_a_lane_keeps_arrival_order() -> None:
    journal = Journal()
    lanes = await partition_0_held(journal, count=1, depth=8, max_records=1)
    await lanes.submit([rec(0, 1)])
    await lanes.submit([rec(2, 0, topic="camps")])
    journal.hold[0].set()
    await lanes.close(grace_s=1.0)
    applied = [what for kind, what in journal.events if kind == "applied"]
    assert applied == [[(0, 0)], [(0, 1)], [(2, 0)]]


async def test_a_hand_over_drops_what_waits_and_waits_for_what_is_applied() -> None:
    journal = Journal()
    journal.hold[0] = asyncio.Event()
    lanes = Lanes(journal.apply, journal.commit, count=1, depth=8, max_records=2)
    lanes.start()
    await lanes.submit([rec(0, 0), rec(0, 1)])
    await asyncio.sleep(0.01)  # taken, and held
    await lanes.submit([rec(0, 2)])  # these wait: their partition moves before they are begun
    await lanes.submit([rec(0, 3)])
    handing = asyncio.create_task(lanes.hand_over(within_s=5.0))
    await asyncio.sleep(0.05)
    assert not handing.done()  # the batch being applied commits before the partitions move
    journal.hold[0].set()
    await handing
    assert ("commit", {0: 2}) in journal.events
    await lanes.submit([rec(0, 2)])  # fetched again, under the next assignment
    await lanes.close(grace_s=1.0)
    applied = [what for kind, what in journal.events if kind == "applied"]
    assert applied == [[(0, 0), (0, 1)], [(0, 2)]]
    commits = [what for kind, what in journal.events if kind == "commit"]
    assert commits == [{0: 2}, {0: 3}]


async def test_a_hand_over_waits_no_longer_than_its_bound() -> None:
    journal = Journal()
    # never set: the apply outlasts the hand-over
    lanes = await partition_0_held(journal, count=1, depth=8)
    async with asyncio.timeout(1.0):
        await lanes.hand_over(within_s=0.05)
    await lanes.close(grace_s=0.05)
    assert not any(kind == "commit" for kind, _ in journal.events)
