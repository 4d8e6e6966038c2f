"""Order and batching never change an outcome. One camp's history (the camp itself among the
events) is fed to the four real services again and again, each time under a camp of its own,
in orders and batches that hypothesis draws (shuffled, split anywhere, some events delivered
twice) beside the plain ones (one batch in order, one event per batch, reversed). Once every
feed is in, the clock moves past the history, and every camp must show the same points,
badges, segments, sent nudges and welcome-back gifts as the first."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gamify.audit import Auditor
from gamify.launcher import SERVICES, service_inputs
from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, processed, send_tick, wait_for

pytestmark = pytest.mark.connected

CAMP = "C"


def at(day: int, hhmm: str) -> str:
    """Local time on camp day `day` of a camp starting 2026-11-20 in Asia/Shanghai."""
    return f"{date(2026, 11, 19) + timedelta(days=day)}T{hhmm}:00+08:00"


def history() -> list[tuple[str, dict[str, Any]]]:
    """(topic, event) with camp id CAMP and event ids E<n>, rewritten per feed."""
    out: list[tuple[str, dict[str, Any]]] = []

    def add(topic: str, when: str, **fields: Any) -> None:
        out.append((topic, {"event_id": f"E{len(out)}", "occurred_at": when, **fields}))

    add(
        topics.CAMPS,
        "2026-11-01T00:00:00+08:00",
        camp_id=CAMP,
        title="order",
        starts_on="2026-11-20",
        days=14,
        timezone="Asia/Shanghai",
        lessons=2,
        cohort_reminder_time="20:00",
    )
    for s in ("s1", "s2", "s3", "s4", "s5"):
        add(
            topics.ENROLLMENTS,
            "2026-11-19T12:00:00+08:00",
            camp_id=CAMP,
            student_id=s,
            display_name=s.upper(),
        )

    def checkin(student: str, day: int, when: str) -> None:
        add(topics.CHECKINS, when, camp_id=CAMP, student_id=student, day=day)

    def work(student: str, work_id: str, when: str, tier: str = "practice") -> None:
        add(
            topics.SUBMISSIONS,
            when,
            camp_id=CAMP,
            student_id=student,
            submission_id=work_id,
            assignment_id=f"a-{work_id}",
            tier=tier,
            title=f"作品 {work_id}",
            url=f"https://example.org/{work_id}",
            contest_entry=False,
        )

    def review(student: str, work_id: str, when: str) -> None:
        add(
            topics.REVIEWS,
            when,
            camp_id=CAMP,
            student_id=student,
            submission_id=work_id,
            reviewer_id="teacher",
            score=95,
            excellent=True,
        )

    for day in (1, 2, 3):  # s1: three days, away, back on day 8 (a welcome-back and a gift)
        checkin("s1", day, at(day, "09:00"))
    checkin("s1", 8, at(8, "21:30"))
    work("s1", "w1", at(2, "10:00"))
    add(topics.SHARES, at(2, "11:00"), camp_id=CAMP, student_id="s1", submission_id="w1")
    for day in range(1, 11):  # s2: ten days in a row (streak bonus and badge)
        checkin("s2", day, at(day, "08:30"))
    checkin("s3", 1, at(1, "10:00"))  # s3: back late on day 5 (quiet hours), a make-up
    checkin("s3", 5, at(5, "23:00"))
    checkin("s3", 4, at(5, "23:10"))
    checkin("s3", 6, at(6, "12:00"))
    checkin("s5", 1, at(1, "09:00"))  # s5: praised while active, not while lapsed
    checkin("s5", 2, at(2, "09:00"))
    work("s5", "w5", at(2, "09:30"), "basic")
    review("s5", "w5", at(3, "10:00"))
    checkin("s5", 9, at(9, "09:00"))
    work("s5", "w6", at(9, "09:30"))
    review("s5", "w6", at(9, "12:00"))
    return out


EVENTS = history()
N = len(EVENTS)


@st.composite
def feeds(draw: st.DrawFn) -> list[list[int]]:
    """An order of the events, cut into batches, with some delivered twice."""
    order = list(draw(st.permutations(range(N))))
    for index in draw(st.lists(st.integers(0, N - 1), max_size=6)):
        order.insert(draw(st.integers(0, len(order))), index)
    cuts = sorted(draw(st.sets(st.integers(1, len(order) - 1), max_size=8)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in itertools.pairwise(bounds)]


def drawn_feeds(count: int) -> list[list[list[int]]]:
    found: list[list[list[int]]] = []

    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(feeds())
    def collect(feed: list[list[int]]) -> None:
        found.append(feed)

    collect()
    return found


def plain_feeds() -> list[list[list[int]]]:
    return [
        [list(range(N))],  # one batch, in order
        [[i] for i in range(N)],  # one event per batch
        [list(reversed(range(N)))],  # the camp last, everything backwards
    ]


def rewrite(event: dict[str, Any], camp: str) -> dict[str, Any]:
    text = json.dumps(event).replace(f'"{CAMP}"', f'"{camp}"')
    out: dict[str, Any] = json.loads(text)
    out["event_id"] = f"{camp}-{event['event_id']}"
    return out


INPUTS = {name: service_inputs(name) for name in SERVICES}


async def feed(bus: Bus, settings: Settings, camp: str, batches: list[list[int]]) -> None:
    """Each batch sent at once, and taken in by every service before the next is sent."""
    for batch in batches:
        sent = [(EVENTS[i][0], rewrite(EVENTS[i][1], camp)) for i in batch]
        for topic in {t for t, _ in sent}:
            await bus.send_many(topic, [e for t, e in sent if t == topic])
        for service, inputs in INPUTS.items():
            ids = [e["event_id"] for t, e in sent if t in inputs]
            if ids:
                await wait_for(
                    lambda s=service, i=ids: processed(settings.database_url, s, i),  # type: ignore[misc]
                    timeout=30,
                    what=f"{service} took in a batch of {camp}",
                )


async def outcome(conn: asyncpg.Connection, camp: str) -> dict[str, Any]:
    def same(value: object) -> str:
        """Ids derived from the camp's id (uuid5: gift and output event ids) made comparable."""
        return re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "ID", str(value)).replace(
            camp, CAMP
        )

    def rows(records: list[asyncpg.Record]) -> list[tuple[Any, ...]]:
        return sorted(tuple(same(v) for v in r.values()) for r in records)

    return {
        "points": rows(
            await conn.fetch(
                "SELECT student_id, rule_id, cause, delta FROM points.ledger WHERE camp_id = $1",
                camp,
            )
        ),
        "balances": rows(
            await conn.fetch(
                "SELECT student_id, balance FROM points.balances WHERE camp_id = $1", camp
            )
        ),
        "badges": rows(
            await conn.fetch(
                "SELECT student_id, badge_id FROM badges.awards WHERE camp_id = $1", camp
            )
        ),
        "segments": rows(
            await conn.fetch(
                "SELECT student_id, day, segment FROM nudges.segments WHERE camp_id = $1", camp
            )
        ),
        "nudges": rows(
            await conn.fetch(
                "SELECT student_id, kind, day, cause FROM nudges.nudges"
                " WHERE camp_id = $1 AND status = 'sent'",
                camp,
            )
        ),
        "lapses": rows(
            await conn.fetch("SELECT student_id, lapse FROM nudges.lapses WHERE camp_id = $1", camp)
        ),
    }


async def test_order_and_batching_change_no_outcome(
    all_services: list[ServiceRuntime], bus: Bus, settings: Settings
) -> None:
    await send_tick(bus, "2026-11-10T00:00:00+08:00")  # before the camp: nothing comes due
    plans = plain_feeds() + drawn_feeds(5)
    camps = [f"ord{k}" for k in range(len(plans))]
    for camp, plan in zip(camps, plans, strict=True):
        await feed(bus, settings, camp, plan)
    await send_tick(bus, at(12, "12:00"))

    conn = await asyncpg.connect(settings.database_url)
    try:

        async def all_judged() -> bool:
            due = await conn.fetchval(
                "SELECT count(*) FROM nudges.nudges WHERE status = 'pending'"
                " AND due_at <= '2026-12-01T12:00:00+08:00'"
            )
            started = await conn.fetchval("SELECT count(*) FROM nudges.rollovers WHERE day = 12")
            gifts = await conn.fetchval("SELECT count(*) FROM nudges.lapses")
            paid = await conn.fetchval("SELECT count(*) FROM points.ledger WHERE rule_id = 'gift'")
            held = await conn.fetchval(  # released in passes
                "SELECT count(*) FROM points.gate_held"
                " WHERE topic IN ('camp.checkins', 'camp.shares')"
            )
            return bool(due == 0 and started == len(camps) and gifts == paid and held == 0)

        await wait_for(all_judged, timeout=30, what="every camp's day 12 started and due sent")
        first = await outcome(conn, camps[0])
        # What the history calls for, so that equal outcomes cannot all be empty.
        assert ("S1", "welcome_back") in {(s.upper(), k) for s, k, _, _ in first["nudges"]}
        assert {lapse for _, lapse in first["lapses"]} == {
            "after-day-3",
            "after-day-1",
            "after-day-2",
        }
        assert ("s2", "streak-7") in first["badges"]
        assert ("s5", "praise", "3", "submission:w5") in first["nudges"]
        assert not any(k == "praise" and c == "submission:w6" for _, k, _, c in first["nudges"])
        for camp, plan in zip(camps[1:], plans[1:], strict=True):
            got = await outcome(conn, camp)
            for area in first:
                missing = sorted(set(first[area]) - set(got[area]))
                extra = sorted(set(got[area]) - set(first[area]))
                assert got[area] == first[area], (
                    f"{area} differ for the feed {plan}: missing {missing}, extra {extra}"
                )
        # The audit recomputes the returns from the input log and agrees; a lost welcome-back
        # is a difference it names.
        audited = await Auditor(
            settings.kafka_bootstrap, settings.topic_prefix, settings.database_url, camp=camps[0]
        ).run()
        assert not [d for d in audited.differences if d.area == "returns"], audited.differences
        await conn.execute(
            "DELETE FROM nudges.lapses WHERE camp_id = $1 AND student_id = 's1'", camps[0]
        )
        audited = await Auditor(
            settings.kafka_bootstrap, settings.topic_prefix, settings.database_url, camp=camps[0]
        ).run()
        assert f"returns    {camps[0]}/s1: came back after-day-3 but was not welcomed back" in [
            str(d) for d in audited.differences
        ]
    finally:
        await conn.close()
