"""Every cheat of the contract's "Integrity" section, played through the four real services:
nothing is paid, awarded or counted for it, each refusal is dead-lettered with its rule by every
service that takes the event, while an honest student beside it is paid as usual."""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg

from gamify.launcher import SERVICES, service_inputs
from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, metric, new_id, processed, scrape, send_tick, wait_for
from tests.helpers import work as submission

C = "ic"
DAY_1 = "2026-11-20T20:05:00+08:00"


def review(student: str, work_id: str, reviewer: str = "teacher") -> dict[str, Any]:
    return {
        "event_id": new_id("rev"),
        "occurred_at": "2026-11-21T10:00:00+08:00",
        "camp_id": C,
        "student_id": student,
        "submission_id": work_id,
        "reviewer_id": reviewer,
        "score": 99,
        "excellent": True,
    }


def share(student: str, work_id: str) -> dict[str, Any]:
    return {
        "event_id": new_id("share"),
        "occurred_at": "2026-11-21T12:00:00+08:00",
        "camp_id": C,
        "student_id": student,
        "submission_id": work_id,
    }


def enrollment(student: str) -> dict[str, Any]:
    return {
        "event_id": new_id("enr"),
        "occurred_at": "2026-11-10T10:00:00+08:00",
        "camp_id": C,
        "student_id": student,
        "display_name": student,
    }


async def rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(database_url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def test_no_cheat_is_paid_awarded_or_counted_anywhere(
    all_services: list[ServiceRuntime], bus: Bus, settings: Settings
) -> None:
    points = all_services[0]
    await send_tick(bus, "2026-11-20T12:00:00+08:00")
    sent: list[tuple[str, dict[str, Any]]] = [
        (topics.ENROLLMENTS, enrollment(s)) for s in ("cheat", "honest", "other")
    ]
    # the honest student's review arrives before its submission: it waits, then pays
    sent.append((topics.REVIEWS, review("honest", "h-work")))
    sent.append((topics.CHECKINS, checkin(C, "honest", 1, occurred_at=DAY_1)))
    # all 21 days checked in on day 1 (and one sent before the camp even started)
    sent += [(topics.CHECKINS, checkin(C, "cheat", d, occurred_at=DAY_1)) for d in range(1, 22)]
    sent.append((topics.CHECKINS, checkin(C, "cheat", 1, occurred_at="2026-11-19T20:00:00+08:00")))
    sent.append((topics.CAMPS, camp(C)))
    sent += [
        (topics.SUBMISSIONS, submission(C, "honest", "h-work", contest_entry=True)),
        (topics.SUBMISSIONS, submission(C, "other", "o-work")),
        (topics.SUBMISSIONS, submission(C, "cheat", "c-work", contest_entry=True)),
        (topics.SHARES, share("cheat", "o-work")),  # somebody else's work
        (topics.SHARES, share("cheat", "ghost")),  # a work that never arrives
        (topics.REVIEWS, review("cheat", "c-work", reviewer="cheat")),  # own work, "excellent"
        (topics.REVIEWS, review("cheat", "o-work")),  # another's work, claimed as theirs
    ]
    for topic, body in sent:
        await bus.send(topic, body)
    for service in SERVICES:
        ids = [e["event_id"] for t, e in sent if t in service_inputs(service)]
        await wait_for(
            lambda s=service, i=ids: processed(settings.database_url, s, i),  # type: ignore[misc]
            20,
            f"{service} took everything in",
        )

    # week 1 closes: two entries, no votes
    await send_tick(bus, "2026-11-27T00:00:01+08:00")
    [week] = await bus.read(topics.CONTESTS, until=lambda m: len(m) >= 1, timeout=20)
    assert sorted(r["student_id"] for r in week["ranking"]) == ["cheat", "honest"]
    assert [r["prize"] for r in week["ranking"]] == [False, False]

    async def outbox_empty() -> bool:
        return metric(await scrape(points.http_port), "gamify_outbox_backlog") == 0

    await wait_for(outbox_empty, 20, "points published everything")
    url = settings.database_url
    paid = await rows(
        url,
        "SELECT student_id, rule_id, cause, delta FROM points.ledger"
        " WHERE rule_id <> 'submission' ORDER BY 1, 2, 3",
    )
    assert paid == [
        ("cheat", "checkin", "day:1", 10),  # the one day that had begun
        ("honest", "checkin", "day:1", 10),
        ("honest", "excellent_review", "submission:h-work", 20),
    ]
    assert await rows(url, "SELECT student_id, badge_id FROM badges.awards ORDER BY 1, 2") == [
        ("honest", "first-excellent")
    ]
    assert await rows(url, "SELECT student_id, day FROM nudges.checkins ORDER BY 1, 2") == [
        ("cheat", 1),
        ("honest", 1),
    ]
    assert await rows(url, "SELECT submission_id FROM contests.scores") == [("h-work",)]
    assert await rows(url, "SELECT count(*) FROM points.gate_held") == [(1,)]  # the ghost share
    gifts = await bus.read(topics.GIFTS, timeout=1)
    assert gifts == []  # no coupon for a prize nobody voted for

    letters = await bus.read(topics.DLQ, until=lambda m: len(m) >= 60 + 1 + 4 + 4, timeout=20)
    by_rule = Counter((d["service"], d["error"].split(":")[0]) for d in letters)
    assert by_rule == {
        **{(s, "future_day"): 21 for s in ("points", "badges", "nudges")},
        ("points", "not_own_submission"): 2,  # the share and the claimed review
        **{(s, "not_own_submission"): 1 for s in ("badges", "nudges", "contests")},
        **{(s, "self_review"): 1 for s in ("points", "badges", "nudges", "contests")},
    }
    samples = await scrape(points.http_port)
    refused = {
        r: metric(samples, "gamify_integrity_refused_total", service="points", reason=r)
        for r in ("future_day", "not_own_submission", "self_review", "makeup_window")
    }
    assert refused == {
        "future_day": 21,
        "not_own_submission": 2,
        "self_review": 1,
        "makeup_window": 0,
    }
