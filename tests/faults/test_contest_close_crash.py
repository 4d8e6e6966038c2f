"""A contests service that dies in the middle of closing a week (after ranking and writing the
outbox, before the commit) settles nothing; restarted, it settles the week exactly once."""

from __future__ import annotations

import asyncio

import asyncpg

from shared import topics
from shared.settings import Settings
from tests.helpers import Bus, camp, processed, send_tick, wait_for
from tests.integration.test_contests_live import entry, vote
from tests.integration.world import enrollment
from tests.services import ServiceProcess


async def settled_weeks(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        if not await conn.fetchval("SELECT to_regclass('contests.weeks') IS NOT NULL"):
            return 0
        return int(await conn.fetchval("SELECT count(*) FROM contests.weeks"))
    finally:
        await conn.close()


async def test_a_crash_mid_close_settles_the_week_once_after_restart(
    settings: Settings, bus: Bus
) -> None:
    env = {"GAMIFY_CLOCK": "topic", "GAMIFY_SCHEDULER_INTERVAL_S": "0.2"}
    crashing = ServiceProcess("contests", settings, GAMIFY_FAULT="exit-mid-close", **env).start()
    try:
        await crashing.ready()
        events = [
            (topics.CAMPS, camp("kc", starts_on="2026-11-20", days=7)),
            (topics.ENROLLMENTS, enrollment("kc", "ivy", "ivy", "2026-11-10T10:00:00Z")),
            (topics.SUBMISSIONS, entry("kc", "jon", "wj", "2026-11-21T10:00:00+08:00")),
            (topics.VOTES, vote("kc", "ivy", "wj", "2026-11-22T10:00:00+08:00")),
        ]
        for topic, event in events:
            await bus.send(topic, event)
        ids = [e["event_id"] for _, e in events]
        await wait_for(
            lambda: processed(settings.database_url, "contests", ids), what="events taken in"
        )
        await send_tick(bus, "2026-11-27T00:00:01+08:00")
        assert crashing.proc is not None
        assert await asyncio.to_thread(crashing.proc.wait, 30) == 3
    finally:
        crashing.stop()
    assert await settled_weeks(settings) == 0
    assert await bus.read_quiet(topics.CONTESTS, settle=1.0) == []

    service = ServiceProcess("contests", settings, **env).start()
    try:
        await service.ready()

        async def settled() -> bool:
            return await settled_weeks(settings) == 1

        await wait_for(settled, what="the week settled after the restart")
        results = await bus.read(topics.CONTESTS, until=lambda m: len(m) >= 1)
        results = await bus.read_quiet(topics.CONTESTS)
        assert len(results) == 1
        assert [(r["student_id"], r["votes"]) for r in results[0]["ranking"]] == [("jon", 1)]
    finally:
        assert service.stop() == 0
