"""Offset commits off the lanes' path: one at a time, coalesced, never lost at stop."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import TopicPartition

from shared.kafka_intake import CoalescedCommits

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


class Broker:
    """Commits that take as long as the test says."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
            self.commits.append(offsets)
        finally:
            self.in_flight -= 1


async def test_offsets_noted_during_a_commit_go_in_the_next_one_the_highest_each() -> None:
    broker = Broker()
    commits = CoalescedCommits(broker.commit)
    runner = asyncio.create_task(commits.run())
    commits.note({P0: 5})
    await asyncio.sleep(0)  # the first commit is now in flight
    commits.note({P0: 9, P1: 3})
    commits.note({P0: 7})  # a lower offset noted later never moves a partition back
    broker.release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert broker.commits == [{P0: 5}, {P0: 9, P1: 3}]
    assert broker.most_in_flight == 1


async def test_stop_commits_what_a_cancelled_commit_carried() -> None:
    broker = Broker()
    commits = CoalescedCommits(broker.commit)
    runner = asyncio.create_task(commits.run())
    commits.note({P0: 4})
    await asyncio.sleep(0)
    runner.cancel()  # a stop while the commit waits for the broker
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert broker.commits == []
    broker.release.set()
    await commits.flush()
    assert broker.commits == [{P0: 4}]
    await commits.flush()  # nothing noted since: nothing sent
    assert broker.commits == [{P0: 4}]


async def test_after_a_commit_the_next_waits_the_interval_and_carries_all_noted_meanwhile() -> None:
    broker = Broker()
    broker.release.set()
    commits = CoalescedCommits(broker.commit, interval_s=0.2)
    runner = asyncio.create_task(commits.run())
    commits.note({P0: 1})
    await asyncio.sleep(0.05)  # the first goes at once
    assert broker.commits == [{P0: 1}]
    for offset in range(2, 6):  # a batch applied every 20 ms
        commits.note({P0: offset, P1: offset})
        await asyncio.sleep(0.02)
    assert broker.commits == [{P0: 1}]  # still within the interval
    await asyncio.sleep(0.2)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert broker.commits == [{P0: 1}, {P0: 5, P1: 5}]
