"""Events of one student spread over every topic, delivered in the worst order: newest first,
effects before their causes (reviews before submissions, votes before entries), the camp last.
The outcome is the one the natural order gives, to the point, and the audit finds nothing."""

from __future__ import annotations

import random
from typing import Any

import asyncpg

from gamify.launcher import SERVICES, service_inputs
from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.faults.harness import audit
from tests.helpers import Bus, camp, checkin, new_id, processed, send_tick, wait_for

C = "adv"


def at(day: int, hhmm: str = "10:00") -> str:
    return f"2026-11-{19 + day:02d}T{hhmm}:00+08:00"


def story() -> list[tuple[str, dict[str, Any]]]:
    def ev(fields: dict[str, Any], when: str) -> dict[str, Any]:
        return {"event_id": new_id(), "occurred_at": when, "camp_id": C, **fields}

    out: list[tuple[str, dict[str, Any]]] = [(topics.CAMPS, camp(C, days=14, lessons=2))]
    for s in ("amy", "bob"):
        out.append((topics.ENROLLMENTS, ev({"student_id": s, "display_name": s}, at(1, "00:00"))))
    # amy: days 1..8 (day 4 as a late make-up on day 9), lessons, excellent work, a share
    for d in (1, 2, 3, 5, 6, 7, 8):
        out.append((topics.CHECKINS, checkin(C, "amy", d, occurred_at=at(d))))
    out.append((topics.CHECKINS, checkin(C, "amy", 4, occurred_at=at(9))))
    for lesson in ("l1", "l2"):
        out.append(
            (
                topics.LESSONS,
                ev(
                    {
                        "student_id": "amy",
                        "lesson_id": lesson,
                        "watched_seconds": 600,
                        "duration_seconds": 600,
                    },
                    at(2),
                ),
            )
        )
    work = {
        "student_id": "amy",
        "submission_id": "w1",
        "assignment_id": "a1",
        "tier": "challenge",
        "title": "作品",
        "url": "https://example.org/w1",
        "contest_entry": True,
    }
    out.append((topics.SUBMISSIONS, ev(work, at(2, "11:00"))))
    review = {"reviewer_id": "t", "score": 96, "excellent": True}
    out.append((topics.REVIEWS, ev({"student_id": "amy", "submission_id": "w1", **review}, at(3))))
    out.append((topics.SHARES, ev({"student_id": "amy", "submission_id": "w1"}, at(3, "12:00"))))
    out.append((topics.VOTES, ev({"voter_id": "bob", "submission_id": "w1"}, at(4))))
    out.append((topics.VOTES, ev({"voter_id": "amy", "submission_id": "w1"}, at(4))))  # own
    return out  # no redemption: its answer depends on the balance when it arrives, by contract


async def test_the_worst_order_gives_the_same_outcome(
    all_services: list[ServiceRuntime], bus: Bus, settings: Settings
) -> None:
    events = story()
    worst = sorted(events, key=lambda te: te[1]["occurred_at"], reverse=True)
    worst = [te for te in worst if te[0] != topics.CAMPS] + [
        te for te in worst if te[0] == topics.CAMPS
    ]
    head = worst[: len(worst) // 2]
    random.Random(5).shuffle(head)  # and the newest half in no order at all
    worst = head + worst[len(head) :]
    for topic, event in worst:
        await bus.send(topic, event)
    ids = [e["event_id"] for _, e in events]
    for schema in SERVICES:
        mine = [e["event_id"] for t, e in events if t in service_inputs(schema)]
        await wait_for(
            lambda s=schema, m=mine: processed(settings.database_url, s, m),  # type: ignore[misc]
            what=f"{schema} took everything in",
        )
    assert ids
    await send_tick(bus, "2026-12-04T00:00:01+08:00")  # both contest weeks are over
    await bus.read(topics.CONTESTS, until=lambda m: len(m) >= 2)

    async def prizes_paid() -> bool:
        conn = await asyncpg.connect(settings.database_url)
        try:
            n = await conn.fetchval("SELECT count(*) FROM points.ledger WHERE rule_id = 'contest'")
        finally:
            await conn.close()
        return bool(n == 1)

    await wait_for(prizes_paid, what="the contest prize paid")
    conn = await asyncpg.connect(settings.database_url)
    try:
        paid = {
            r["rule_id"]: r["total"]
            for r in await conn.fetch(
                "SELECT rule_id, sum(delta) AS total FROM points.ledger"
                " WHERE student_id = 'amy' GROUP BY rule_id"
            )
        }
        badges = {
            r["badge_id"]
            for r in await conn.fetch("SELECT badge_id FROM badges.awards WHERE student_id = 'amy'")
        }
        ranking = await conn.fetchval("SELECT ranking FROM contests.weeks WHERE week = 1")
    finally:
        await conn.close()
    assert paid == {
        "checkin": 80,  # 8 days, the make-up included
        "streak": 50,  # the make-up of day 4 closes the 7-day run
        "submission": 50,
        "excellent_review": 20,
        "share": 2,
        "contest": 100,  # rank 1 with bob's vote (amy's own vote does not count)
    }
    assert badges == {"streak-7", "first-excellent"}
    assert '"votes": 1' in ranking
    await audit(settings)
