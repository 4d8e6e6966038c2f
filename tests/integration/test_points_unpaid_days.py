"""A check-in for a day not in the student's calendar is paid without asking the ledger
whether its cause was paid (the day and its payment are written in one transaction). Should
the ledger hold that cause anyway (a calendar row deleted by hand, a racing writer), the batch
is refused, run again asking the ledger about every cause, and pays nothing twice."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import pytest

from services.points import ledger
from services.points.rules import Award
from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, checkins_processed, metric, scrape, wait_for


async def test_a_new_day_is_paid_unasked_and_a_wrong_guess_is_caught(
    points: ServiceRuntime, bus: Bus, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str]] = []  # (student, cause) the ledger was asked about
    probe = ledger._paid_causes

    async def recording(conn: asyncpg.Connection, awards: Sequence[Award]) -> set[ledger.Cause]:
        asked.extend((a.student_id, a.cause) for a in awards)
        return await probe(conn, awards)

    monkeypatch.setattr(ledger, "_paid_causes", recording)
    await bus.send(topics.CAMPS, camp("camp-u"))
    await bus.send(topics.CHECKINS, checkin("camp-u", "uma", day=1))
    await bus.read(topics.POINTS, until=lambda m: len(m) >= 1)
    assert ("uma", "day:1") not in asked

    await bus.send(topics.CHECKINS, checkin("camp-u", "uma", day=1))  # the day again, new id
    await bus.send(topics.CHECKINS, checkin("camp-u", "uma", day=2))
    await bus.read(topics.POINTS, until=lambda m: len(m) >= 2)
    await wait_for(lambda: checkins_processed(points, 3), what="three check-ins processed")
    assert ("uma", "day:1") in asked  # a day the calendar had: the ledger was asked

    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("DELETE FROM points.checkin_calendar WHERE student_id = 'uma'")
        await bus.send(topics.CHECKINS, checkin("camp-u", "uma", day=2))  # paid, day forgotten
        await bus.send(topics.CHECKINS, checkin("camp-u", "uma", day=3))
        await wait_for(lambda: checkins_processed(points, 5), what="five check-ins processed")
        rows = await conn.fetch(
            "SELECT cause, balance_after FROM points.ledger WHERE student_id = 'uma' ORDER BY id"
        )
    finally:
        await conn.close()
    assert [(r["cause"], r["balance_after"]) for r in rows] == [
        ("day:1", 10),
        ("day:2", 20),
        ("day:3", 30),
    ]
    out = await bus.read_quiet(topics.POINTS)
    assert [m["balance"] for m in out] == [10, 20, 30]
    samples = await scrape(points.http_port)
    assert metric(samples, "gamify_retries_total", service="points", stage="batch") >= 1
