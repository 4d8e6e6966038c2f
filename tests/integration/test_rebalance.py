"""A second replica joining during a backlog: the partitions handed to it are applied once, by
it, not also by the replica that had fetched them (shared.lanes, hand-over)."""

from __future__ import annotations

import asyncpg

from shared import topics
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, metric, scrape, wait_for
from tests.services import ServiceProcess

STUDENTS, DAYS = 2000, 20
# Small batches: the first replica is still draining when the second has joined, and its
# lanes hold 64 batches each of what it fetched (up to 6,400 records) when it hands over.
BATCH = "50"


async def test_a_replica_joining_mid_backlog_takes_over_without_applying_it_twice(
    settings: Settings, bus: Bus
) -> None:
    await bus.send(topics.CAMPS, camp("camp-r"))
    backlog = [
        checkin("camp-r", f"stu-{s}", day) for day in range(1, DAYS + 1) for s in range(STUDENTS)
    ]
    await bus.send_many(topics.CHECKINS, backlog)
    replicas = [ServiceProcess("points", settings, GAMIFY_BATCH_MAX_RECORDS=BATCH).start()]
    try:
        await replicas[0].ready()

        async def count(outcome: str) -> float:
            total = 0.0
            for r in replicas:
                samples = await scrape(r.port)
                total += metric(
                    samples, "gamify_events_processed_total", outcome=outcome, topic=topics.CHECKINS
                )
            return total

        async def under_way() -> bool:
            return await count("applied") >= 2000

        async def drained() -> bool:
            return await count("applied") >= len(backlog)

        await wait_for(under_way, 60, "the first replica under way")
        replicas.append(ServiceProcess("points", settings, GAMIFY_BATCH_MAX_RECORDS=BATCH).start())
        await replicas[1].ready()
        await wait_for(drained, 120, "every check-in applied")
        applied_by_second = await _applied(replicas[1])
        twice = await count("duplicate")
    finally:
        for r in replicas:
            assert r.stop() == 0
    assert applied_by_second > 0  # the second replica took partitions over
    # What was being applied at the hand-over (a batch per lane) and one fetch may come again;
    # what waited in the first replica's lanes is not applied by it.
    assert twice <= 300, f"{twice:.0f} check-ins taken in twice"
    assert await _ledger_rows(settings) == len(backlog)


async def _applied(replica: ServiceProcess) -> float:
    samples = await scrape(replica.port)
    return metric(samples, "gamify_events_processed_total", outcome="applied")


async def _ledger_rows(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM points.ledger WHERE rule_id = 'checkin'")
        )
    finally:
        await conn.close()
