"""A camp world on simulated time for the nudges and contests tests: events in, clock ticks,
and waits that end when the service has really taken each step (never a fixed sleep)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, metric, new_id, processed, scrape, send_tick, wait_for


def enrollment(camp_id: str, student: str, name: str, at: str) -> dict[str, Any]:
    return {
        "event_id": new_id("enr"),
        "occurred_at": at,
        "camp_id": camp_id,
        "student_id": student,
        "display_name": name,
    }


def preference(
    camp_id: str, student: str, at: str, reminder_time: str | None = None, opt_out: bool = False
) -> dict[str, Any]:
    return {
        "event_id": new_id("pref"),
        "occurred_at": at,
        "camp_id": camp_id,
        "student_id": student,
        "reminder_time": reminder_time,
        "opt_out": opt_out,
    }


def submission(
    camp_id: str, student: str, submission_id: str, title: str, at: str
) -> dict[str, Any]:
    return {
        "event_id": new_id("sub"),
        "occurred_at": at,
        "camp_id": camp_id,
        "student_id": student,
        "submission_id": submission_id,
        "assignment_id": f"a-{submission_id}",
        "tier": "practice",
        "title": title,
        "url": f"https://example.org/{submission_id}",
        "contest_entry": False,
    }


def review(
    camp_id: str, student: str, submission_id: str, at: str, score: int = 96
) -> dict[str, Any]:
    return {
        "event_id": new_id("rev"),
        "occurred_at": at,
        "camp_id": camp_id,
        "student_id": student,
        "submission_id": submission_id,
        "reviewer_id": "teacher",
        "score": score,
        "excellent": True,
    }


class World:
    def __init__(
        self,
        bus: Bus,
        settings: Settings,
        *replicas: ServiceRuntime,
        schema: str = "nudges",
        pass_gauge: str = "gamify_nudges_scheduler_clock_seconds",
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.replicas = list(replicas)
        self.schema = schema
        self.pass_gauge = pass_gauge

    async def send(self, topic: str, *events: dict[str, Any]) -> None:
        """Publish and wait until the service has taken every event in."""
        for e in events:
            await self.bus.send(topic, e)
        ids = [e["event_id"] for e in events]
        await wait_for(
            lambda: processed(self.settings.database_url, self.schema, ids),
            what=f"{len(ids)} {topic} event(s) processed",
        )

    async def tick(self, now: str) -> None:
        """Move the clock and wait until every replica's time-driven loop ran a pass at `now`."""
        await send_tick(self.bus, now)
        target = datetime.fromisoformat(now).timestamp()

        async def passed() -> bool:
            for r in self.replicas:
                seen = metric(await scrape(r.http_port), self.pass_gauge)
                if seen < target:
                    return False
            return True

        await wait_for(passed, what=f"a scheduler pass at {now}")

    async def rows(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def decided(self, kind: str = "reminder") -> dict[tuple[str, int], tuple[str, str]]:
        """(student, day) -> (status, reason or template) of the decided nudges of a kind."""
        rows = await self.rows(
            "SELECT student_id, day, status, coalesce(reason, template_id) AS why"
            " FROM nudges.nudges WHERE kind = $1 AND status <> 'pending'",
            kind,
        )
        return {(r["student_id"], r["day"]): (r["status"], r["why"]) for r in rows}

    async def published(self, topic: str, count: int) -> list[dict[str, Any]]:
        """The topic's messages once `count` are there (and a moment more for any extra)."""
        await self.bus.read(topic, until=lambda m: len(m) >= count, timeout=10)
        return await self.bus.read_quiet(topic, settle=0.8)

    async def metrics(self) -> list[dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
        return [await scrape(r.http_port) for r in self.replicas]


def total(
    samples: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]], name: str, **labels: str
) -> float:
    return sum(metric(s, name, **labels) for s in samples)


NUDGES = topics.NUDGES


async def get_json(port: int, path: str) -> tuple[int, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.json(content_type=None)
