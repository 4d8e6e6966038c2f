"""A service that dies after its database commit but before its offset commit, or at any
moment of a backlog, pays nothing twice and loses nothing once restarted."""

from __future__ import annotations

import asyncio

import asyncpg

from shared import topics
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, metric, scrape, wait_for
from tests.services import ServiceProcess


async def count_ledger(settings: Settings, rule: str = "checkin") -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        exists = await conn.fetchval("SELECT to_regclass('points.ledger') IS NOT NULL")
        if not exists:
            return 0
        sql = "SELECT count(*) FROM points.ledger WHERE rule_id = $1"
        return int(await conn.fetchval(sql, rule))
    finally:
        await conn.close()


async def test_killed_between_database_commit_and_offset_commit_pays_once(
    settings: Settings, bus: Bus
) -> None:
    # The camp first, taken in by a service that does not crash: the faulty one exits after
    # its first batch, which must be the check-in's (camps are handed out before other topics,
    # so a camp and a check-in sent together can make two batches).
    first = ServiceProcess("points", settings).start()
    try:
        await first.ready()
        await bus.send(topics.CAMPS, camp("camp-f"))
        await wait_for(lambda: _camp_known(settings), 30, "the camp stored")
    finally:
        assert first.stop() == 0
    crashing = ServiceProcess("points", settings, GAMIFY_FAULT="exit-after-db-commit").start()
    try:
        await crashing.ready()
        event = checkin("camp-f", "stu-f", day=1)
        await bus.send(topics.CHECKINS, event)
        assert crashing.proc is not None
        assert await asyncio.to_thread(crashing.proc.wait, 30) == 17
    finally:
        crashing.stop()
    assert await count_ledger(settings) == 1  # the effect was committed before the crash

    service = ServiceProcess("points", settings).start()
    try:
        await service.ready()

        async def redelivered() -> bool:
            s = await scrape(service.port)
            return (
                metric(
                    s, "gamify_events_processed_total", outcome="duplicate", topic=topics.CHECKINS
                )
                == 1
            )

        await wait_for(redelivered, what="the uncommitted check-in redelivered as a duplicate")
        await bus.send(topics.CHECKINS, checkin("camp-f", "stu-f", day=2))
        await bus.read(topics.POINTS, until=lambda m: len(m) >= 2)
        out = await bus.read_quiet(topics.POINTS)
        # The relay may have published before the crash; a republished event keeps its id.
        by_id = {m["event_id"]: m["balance"] for m in out}
        assert sorted(by_id.values()) == [10, 20]
        assert await count_ledger(settings) == 2
    finally:
        assert service.stop() == 0


async def test_sigkill_during_a_backlog_then_restart_pays_every_checkin_exactly_once(
    settings: Settings, bus: Bus
) -> None:
    # 50 days: each student also earns the streak bonuses at 7, 14 and 21 days
    students, days = 200, 50
    await topics.ensure_topics(
        settings.kafka_bootstrap,
        [topics.physical(settings.topic_prefix, t) for t in topics.ALL],
        3,
    )
    total = students * days
    at_kill = []
    for round_ in range(3):
        victim = ServiceProcess(
            "points", settings, GAMIFY_BATCH_MAX_RECORDS="20", GAMIFY_FAULT="slow-commit"
        ).start()
        if round_ == 0:
            # The camp first: check-ins that arrive before it are held, then paid in one go.
            await bus.send(topics.CAMPS, camp("camp-k", days=days))
            await wait_for(lambda: _camp_known(settings), 30, "the camp stored")
            await bus.send_many(
                topics.CHECKINS,
                [
                    checkin("camp-k", f"stu-{s}", d)
                    for d in range(1, days + 1)
                    for s in range(students)
                ],
            )
        target = total * (round_ + 1) // 10

        async def progressed(target: int = target) -> bool:
            return await count_ledger(settings) >= target

        await wait_for(progressed, 60, f"{target} entries before kill {round_ + 1}")
        victim.kill()
        at_kill.append(await count_ledger(settings))
    assert at_kill[0] < total, f"the first kill came too late to interrupt anything: {at_kill}"

    service = ServiceProcess("points", settings).start()
    try:
        await service.ready()

        async def all_paid() -> bool:
            return await count_ledger(settings) >= total

        await wait_for(all_paid, 60, "every check-in paid")
        expected_events = total + 3 * students
        out = await bus.read(
            topics.POINTS,
            until=lambda m: len({x["event_id"] for x in m}) >= expected_events,
            timeout=30,
        )
        await asyncio.sleep(1.0)
        assert await count_ledger(settings) == total
        assert await count_ledger(settings, "streak") == 3 * students
        assert len({m["event_id"] for m in out}) == expected_events
        final = {}
        for m in out:
            final[m["student_id"]] = max(final.get(m["student_id"], 0), m["balance"])
        per_student = 10 * days + 3 * 50
        assert final == {f"stu-{s}": per_student for s in range(students)}
        conn = await asyncpg.connect(settings.database_url)
        try:
            balances = await conn.fetch("SELECT balance FROM points.balances")
            assert [b["balance"] for b in balances] == [per_student] * students
            outbox = await conn.fetchval("SELECT count(*) FROM points.outbox")
        finally:
            await conn.close()
        assert outbox == 0
    finally:
        assert service.stop() == 0


async def _camp_known(settings: Settings) -> bool:
    conn = await asyncpg.connect(settings.database_url)
    try:
        exists = await conn.fetchval("SELECT to_regclass('points.camps') IS NOT NULL")
        return bool(exists and await conn.fetchval("SELECT count(*) FROM points.camps"))
    finally:
        await conn.close()
