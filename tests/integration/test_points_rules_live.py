"""Every points rule on the real broker and PostgreSQL: paid once per cause whatever the
redelivery or the order of arrival; redemptions that race; a share that waits."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from services.points.app import create_app
from shared import gate, topics
from shared.events import CheckIn
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, metric, scrape, settled, wait_for, work
from tests.integration.points_live import (
    AT,
    event,
    ledger,
)


async def test_each_rule_pays_once_even_when_every_event_arrives_twice(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    sub = {
        "camp_id": "c1",
        "student_id": "s1",
        "title": "My first post",
        "url": "https://x/1",
        "contest_entry": True,
    }
    inputs = [
        (topics.CAMPS, camp("c1")),
        (topics.CHECKINS, checkin("c1", "s1", 1)),
        (topics.SUBMISSIONS, event(**sub, submission_id="w1", assignment_id="a1", tier="practice")),
        # the same assignment handed in again: no second payment
        (topics.SUBMISSIONS, event(**sub, submission_id="w2", assignment_id="a1", tier="basic")),
        (
            topics.SUBMISSIONS,
            event(**sub, submission_id="w3", assignment_id="a2", tier="challenge"),
        ),
        (
            topics.REVIEWS,
            event(
                camp_id="c1",
                student_id="s1",
                submission_id="w1",
                reviewer_id="t1",
                score=96,
                excellent=True,
            ),
        ),
        (
            topics.REVIEWS,
            event(
                camp_id="c1",
                student_id="s1",
                submission_id="w1",  # re-review
                reviewer_id="t2",
                score=98,
                excellent=True,
            ),
        ),
        (
            topics.REVIEWS,
            event(
                camp_id="c1",
                student_id="s1",
                submission_id="w3",
                reviewer_id="t1",
                score=70,
                excellent=False,
            ),
        ),
        (topics.SHARES, event(camp_id="c1", student_id="s1", submission_id="w1")),
        (topics.SHARES, event(camp_id="c1", student_id="s1", submission_id="w1")),  # again
        (
            topics.CONTESTS,
            event(
                camp_id="c1",
                week=1,
                closed_at=AT,
                ranking=[
                    {
                        "rank": r,
                        "student_id": f"s{r}",
                        "submission_id": f"w{r}",
                        "votes": 9 - r,
                        "score": 90,
                    }
                    for r in (1, 2, 3, 4)
                ],
            ),
        ),
        (
            topics.GIFTS,
            event(
                camp_id="c1",
                student_id="s1",
                gift_id="welcome-back",
                reason="came back after 3 days",
            ),
        ),
        (topics.GIFTS, event(camp_id="c1", student_id="s1", gift_id="coupon", reason="prize")),
    ]
    for _ in range(2):  # at-least-once delivery: everything twice
        for topic, body in inputs:
            await bus.send(topic, body)
    await settled(points, 2 * len(inputs))

    paid = {(e["rule_id"], e["cause"]): e["delta"] for e in await ledger(settings, "s1")}
    assert paid == {
        ("checkin", "day:1"): 10,
        ("submission", "assignment:a1"): 30,
        ("submission", "assignment:a2"): 50,
        ("excellent_review", "submission:w1"): 20,
        ("share", "submission:w1"): 2,
        ("contest", "week:1"): 100,
        ("gift", f"welcome-back:{inputs[11][1]['event_id']}"): 20,
    }
    everyone = await ledger(settings)
    assert sorted((e["student_id"], e["delta"]) for e in everyone if e["rule_id"] == "contest") == [
        ("s1", 100),
        ("s2", 60),
        ("s3", 30),
    ]
    out = await bus.read(topics.POINTS, until=lambda m: len(m) >= len(everyone))
    assert len({m["event_id"] for m in out}) == len(everyone) == len(out)
    s1 = [m for m in out if m["student_id"] == "s1"]
    assert max(m["balance"] for m in s1) == sum(paid.values()) == 232
    samples = await scrape(points.http_port)
    assert metric(samples, "gamify_points_paid_total", rule="submission") == 80
    assert metric(samples, "gamify_events_processed_total", outcome="duplicate") == len(inputs)


async def test_out_of_order_checkins_and_a_late_camp_still_pay_one_streak_bonus(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    for day in (1, 2, 3, 4, 5, 6, 8):
        await bus.send(topics.CHECKINS, checkin("c2", "s1", day))
    await bus.send(topics.CHECKINS, checkin("c2", "s1", 7))  # the make-up that closes the gap
    await settled(points, 8)
    assert await ledger(settings) == []  # held: the camp's definition has not arrived
    samples = await scrape(points.http_port)
    assert metric(samples, "gamify_integrity_held_total", service="points") == 8

    await bus.send(topics.CAMPS, camp("c2"))
    await settled(points, 9)
    entries = await ledger(settings)
    assert sorted(e["cause"] for e in entries if e["rule_id"] == "checkin") == [
        f"day:{d}" for d in range(1, 9)
    ]
    assert [e["cause"] for e in entries if e["rule_id"] == "streak"] == ["run:7"]
    assert entries[-1]["balance_after"] == 8 * 10 + 50

    await bus.send(topics.CHECKINS, checkin("c2", "s1", 9))  # camp known now: paid at once
    await settled(points, 10)
    assert len(await ledger(settings)) == 10


async def test_events_held_for_a_late_camp_leave_a_chunk_per_transaction(
    points: ServiceRuntime, bus: Bus, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many wait for their camp, a transaction takes out a chunk of them, and
    follow-up passes take the rest with no further input: all paid once, none left held."""
    monkeypatch.setattr(gate, "RELEASE_CHUNK", 3)
    for n in range(10):
        await bus.send(topics.CHECKINS, checkin("c8", f"s{n}", 1))
    await settled(points, 10)
    assert await ledger(settings) == []

    await bus.send(topics.CAMPS, camp("c8"))

    async def all_paid() -> bool:
        return len(await ledger(settings)) == 10

    await wait_for(all_paid, 20, "every held check-in paid")
    await settled(points, 11)
    entries = await ledger(settings)
    assert sorted(e["student_id"] for e in entries) == sorted(f"s{n}" for n in range(10))
    assert {(e["rule_id"], e["delta"], e["balance_after"]) for e in entries} == {
        ("checkin", 10, 10)
    }
    conn = await asyncpg.connect(settings.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM points.gate_held") == 0
    finally:
        await conn.close()
    samples = await scrape(points.http_port)
    assert metric(samples, "gamify_integrity_released_total", service="points") == 10


async def test_a_backlog_takes_its_camp_before_the_checkins_that_need_it(
    bus: Bus, settings: Settings
) -> None:
    """A service starting on a backlog (a new camp and its check-ins after an outage) applies
    the camp ahead of the check-ins fetched with it, instead of parking each check-in it
    reaches before the camp's partition: at most the batches already in hand are held."""
    # one camp on every partition of the camps topic: the consumer's order of partitions
    # (a hash order) cannot happen to put them all first
    camps = [f"cb{p}" for p in range(settings.topic_partitions)]
    students = 6_000 // (2 * len(camps))
    for day in (1, 2):
        await bus.send_many(
            topics.CHECKINS, [checkin(c, f"b{n}", day) for c in camps for n in range(students)]
        )
    for p, camp_id in enumerate(camps):  # last in time too
        await bus.send(topics.CAMPS, camp(camp_id), partition=p)
    runtime = create_app(settings)
    await runtime.start()
    try:
        await settled(runtime, 2 * students * len(camps) + len(camps))
        samples = await scrape(runtime.http_port)
    finally:
        await runtime.stop()
    in_hand = settings.batch_lanes * settings.batch_max_records
    assert metric(samples, "gamify_integrity_held_total", service="points") <= in_hand
    assert len(await ledger(settings)) == 2 * students * len(camps)


async def test_the_first_batch_after_a_start_releases_events_left_held(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    """A check-in left held although its camp is known (a follow-up pass that failed, or a
    crash between passes) is released by the first batch after the service starts."""
    left = CheckIn.model_validate_json(json.dumps(checkin("c9", "left", 1)))
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO points.camps (camp_id, starts_on, days, timezone, occurred_at)"
            " VALUES ('c9', '2026-11-20', 21, 'Asia/Shanghai', now())"
        )
        await conn.execute(
            "INSERT INTO points.gate_camps (camp_id, starts_on, timezone, occurred_at)"
            " VALUES ('c9', '2026-11-20', 'Asia/Shanghai', now())"
        )
        await conn.execute(
            "INSERT INTO points.gate_held (topic, event_id, camp_id, payload)"
            " VALUES ($1, $2, $3, $4)",
            topics.CHECKINS,
            left.event_id,
            "c9",
            left.model_dump_json(),
        )
    finally:
        await conn.close()
    await bus.send(topics.CHECKINS, checkin("c9", "new", 1))

    async def both_paid() -> bool:
        return sorted(e["student_id"] for e in await ledger(settings)) == ["left", "new"]

    await wait_for(both_paid, 20, "the check-in left held paid beside the new one")


async def test_a_checkin_beyond_the_camps_days_is_dead_lettered(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("c3", days=7))
    bad = checkin("c3", "s1", 8)
    await bus.send(topics.CHECKINS, bad)
    [letter] = await bus.read(topics.DLQ, until=lambda m: len(m) >= 1)
    assert letter["error"] == "domain: day 8 is beyond camp c3's 7 days"
    assert letter["topic"] == topics.CHECKINS and bad["event_id"] in letter["value"]
    assert await ledger(settings) == []


async def test_redemptions_racing_on_two_replicas_never_overspend(
    settings: Settings, bus: Bus
) -> None:
    replicas = [create_app(settings), create_app(settings)]
    await asyncio.gather(*(r.start() for r in replicas))
    try:
        await wait_for(lambda: _both_assigned(replicas), 20, "both replicas own partitions")
        await bus.send(topics.CAMPS, camp("c4"))
        await bus.send(
            topics.CONTESTS,
            event(
                camp_id="c4",
                week=1,
                closed_at=AT,
                ranking=[
                    {"rank": 1, "student_id": "rich", "submission_id": "w", "votes": 3, "score": 90}
                ],
            ),
        )
        await _until_balance(settings, "rich", 100)
        # Ten requests of 30 for one student, spread over every partition so that both
        # replicas decide some of them at the same time; one request_id is sent twice.
        for i in range(10):
            req = event(camp_id="c4", student_id="rich", request_id=f"q{i}", item_id="mug", cost=30)
            await bus.send(topics.REDEMPTIONS, req, partition=i % 3)
        await bus.send(
            topics.REDEMPTIONS,
            event(camp_id="c4", student_id="rich", request_id="q0", item_id="mug", cost=30),
            partition=1,
        )
        answers = await bus.read(topics.REDEMPTION_RESULTS, until=lambda m: len(m) >= 10)
        await asyncio.sleep(1.0)
        answers = await bus.read_quiet(topics.REDEMPTION_RESULTS)
        by_request = {a["request_id"]: a for a in answers}
        assert len(by_request) == 10 and len({a["event_id"] for a in answers}) == 10
        accepted = [a for a in by_request.values() if a["status"] == "accepted"]
        rejected = [a for a in by_request.values() if a["status"] == "rejected"]
        assert len(accepted) == 3 and len(rejected) == 7
        assert all(a["reason"].startswith("insufficient balance: 10 < 30") for a in rejected)
        entries = await ledger(settings, "rich")
        assert [e["delta"] for e in entries] == [100, -30, -30, -30]
        assert entries[-1]["balance_after"] == 10
        assert min(e["balance_after"] for e in entries) >= 0
    finally:
        await asyncio.gather(*(r.stop() for r in replicas))


async def _both_assigned(replicas: list[ServiceRuntime]) -> bool:
    states = [await r.readiness() for r in replicas]
    return all(s["partitions_assigned"] for s in states)


async def _until_balance(settings: Settings, student: str, value: int) -> None:
    async def reached() -> bool:
        entries = await ledger(settings, student)
        return bool(entries) and entries[-1]["balance_after"] == value

    await wait_for(reached, 20, f"{student} balance {value}")


async def test_a_share_waits_for_its_work_then_its_camp_and_is_paid_once(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    share = event(camp_id="sw", student_id="s1", submission_id="w1")
    await bus.send(topics.SHARES, share)  # before its work and its camp
    await bus.send(topics.SUBMISSIONS, work("sw", "s1", "w1"))
    await settled(points, 2)
    assert [e["rule_id"] for e in await ledger(settings)] == ["submission"]
    conn = await asyncpg.connect(settings.database_url)
    try:  # its work known, the share now waits for the camp
        held = await conn.fetch("SELECT topic, camp_id, submission_id FROM points.gate_held")
    finally:
        await conn.close()
    assert [tuple(r) for r in held] == [(topics.SHARES, "sw", None)]

    await bus.send(topics.CAMPS, camp("sw"))
    await settled(points, 3)
    paid = sorted((e["rule_id"], e["cause"]) for e in await ledger(settings))
    assert paid == [("share", "submission:w1"), ("submission", "assignment:a-w1")]
