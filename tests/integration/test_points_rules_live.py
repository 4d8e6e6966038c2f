"""Every points rule on the real broker and PostgreSQL: paid once per cause whatever the
redelivery or the order of arrival; redemptions that race; rules changed while running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from services.points.app import create_app
from services.points.explain import explain
from shared import gate, topics
from shared.camp_days import camp_day
from shared.events import CheckIn
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, metric, new_id, scrape, wait_for, work

AT = "2026-11-22T20:05:00+08:00"


def event(**fields: Any) -> dict[str, Any]:
    return {"event_id": new_id(), "occurred_at": AT, **fields}


async def ledger(settings: Settings, student: str | None = None) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT * FROM points.ledger WHERE $1::text IS NULL OR student_id = $1 ORDER BY id",
            student,
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def settled(runtime: ServiceRuntime, bus: Bus, n_inputs: int) -> None:
    """Wait until `n_inputs` input messages were taken in and the outbox is empty."""

    async def done() -> bool:
        s = await scrape(runtime.http_port)
        taken = metric(s, "gamify_events_processed_total") + metric(
            s, "gamify_events_dead_lettered_total"
        )
        return taken >= n_inputs and metric(s, "gamify_outbox_backlog") == 0

    await wait_for(done, 20, f"{n_inputs} inputs processed")


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
    await settled(points, bus, 2 * len(inputs))

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
    await settled(points, bus, 8)
    assert await ledger(settings) == []  # held: the camp's definition has not arrived
    samples = await scrape(points.http_port)
    assert metric(samples, "gamify_integrity_held_total", service="points") == 8

    await bus.send(topics.CAMPS, camp("c2"))
    await settled(points, bus, 9)
    entries = await ledger(settings)
    assert sorted(e["cause"] for e in entries if e["rule_id"] == "checkin") == [
        f"day:{d}" for d in range(1, 9)
    ]
    assert [e["cause"] for e in entries if e["rule_id"] == "streak"] == ["run:7"]
    assert entries[-1]["balance_after"] == 8 * 10 + 50

    await bus.send(topics.CHECKINS, checkin("c2", "s1", 9))  # camp known now: paid at once
    await settled(points, bus, 10)
    assert len(await ledger(settings)) == 10


async def test_events_held_for_a_late_camp_leave_a_chunk_per_transaction(
    points: ServiceRuntime, bus: Bus, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many wait for their camp, a transaction takes out a chunk of them, and
    follow-up passes take the rest with no further input: all paid once, none left held."""
    monkeypatch.setattr(gate, "RELEASE_CHUNK", 3)
    for n in range(10):
        await bus.send(topics.CHECKINS, checkin("c8", f"s{n}", 1))
    await settled(points, bus, 10)
    assert await ledger(settings) == []

    await bus.send(topics.CAMPS, camp("c8"))

    async def all_paid() -> bool:
        return len(await ledger(settings)) == 10

    await wait_for(all_paid, 20, "every held check-in paid")
    await settled(points, bus, 11)
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
        await settled(runtime, bus, 2 * students * len(camps) + len(camps))
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


@contextlib.asynccontextmanager
async def points_with_rules(
    settings: Settings, rules_file: Path, text: str
) -> AsyncIterator[ServiceRuntime]:
    """A points service started on a rules file holding `text`."""
    write_rules(rules_file, text)
    runtime = create_app(settings.model_copy(update={"rules_file": rules_file}))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def write_rules(rules_file: Path, text: str) -> None:
    rules_file.write_text(text, encoding="utf-8")


def change_rules(rules_file: Path, text: str, mtime: int) -> None:
    """Ops edit the file (a new modification time: the service takes it at its next batch)."""
    write_rules(rules_file, text)
    os.utime(rules_file, (mtime, mtime))


async def test_rules_reloaded_mid_stream_and_a_bad_file_keeps_the_old_rules(
    settings: Settings, bus: Bus, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules_file = tmp_path / "rules.yaml"
    v1 = 'version: "v1"\ncheckin:\n  points: 10\n'
    async with points_with_rules(settings, rules_file, v1) as runtime:
        await bus.send(topics.CAMPS, camp("c5"))
        await bus.send(topics.CHECKINS, checkin("c5", "s1", 1))
        await settled(runtime, bus, 2)

        change_rules(rules_file, 'version: "v2"\ncheckin:\n  points: 15\n', 1_000)
        await bus.send(topics.CHECKINS, checkin("c5", "s1", 2))
        await settled(runtime, bus, 3)

        change_rules(rules_file, 'version: "v3"\ncheckin:\n  points: many\n', 2_000)
        await bus.send(topics.CHECKINS, checkin("c5", "s1", 3))
        await settled(runtime, bus, 4)

        entries = await ledger(settings)
        assert [(e["delta"], e["rules_version"].split("@")[0]) for e in entries] == [
            (10, "v1"),
            (15, "v2"),
            (15, "v2"),
        ]
        v2 = entries[-1]["rules_version"]  # the label, then the content's digest
        assert v2.startswith("v2@") and len(v2) == len("v2@") + 12
        samples = await scrape(runtime.http_port)
        assert metric(samples, "gamify_points_rules_version", version=v2) == 1
        assert (
            metric(samples, "gamify_points_rules_version", version=entries[0]["rules_version"]) == 0
        )
        assert metric(samples, "gamify_points_rules_rejected_total") == 1
        assert any(
            "rejected changed configuration" in r.message and "checkin.points" in r.message
            for r in caplog.records
        )


async def test_a_streak_milestone_added_mid_camp_pays_runs_that_had_passed_it(
    settings: Settings, bus: Bus, tmp_path: Path
) -> None:
    """A check-in proposes only the milestones its day newly reaches, unless the milestones
    changed since the student's calendar was last written: then every reached one again."""
    rules_file = tmp_path / "rules.yaml"
    v1 = 'version: "v1"\nstreak:\n  milestones: [3]\n'
    async with points_with_rules(settings, rules_file, v1) as runtime:
        await bus.send(topics.CAMPS, camp("c6"))
        await settled(runtime, bus, 1)
        for day in range(1, 6):
            await bus.send(topics.CHECKINS, checkin("c6", "s1", day))
            await settled(runtime, bus, 1 + day)

        change_rules(rules_file, 'version: "v2"\nstreak:\n  milestones: [3, 4]\n', 1_000)
        await bus.send(topics.CHECKINS, checkin("c6", "s1", 6))
        await settled(runtime, bus, 7)
        await bus.send(topics.CHECKINS, checkin("c6", "s1", 7))
        await settled(runtime, bus, 8)

        streaks = [
            (e["cause"], e["rules_version"].split("@")[0])
            for e in await ledger(settings)
            if e["rule_id"] == "streak"
        ]
        assert streaks == [("run:3", "v1"), ("run:4", "v2")]
        conn = await asyncpg.connect(settings.database_url)
        try:
            noted = await conn.fetchval(
                "SELECT streak_rules FROM points.checkin_calendar WHERE camp_id = 'c6'"
            )
        finally:
            await conn.close()
        assert noted == "3,4"


async def test_read_side_and_explain_answer_from_the_ledger(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("c6"))
    for student, days in (("ann", 3), ("bob", 1), ("cat", 2)):
        for day in range(1, days + 1):
            await bus.send(topics.CHECKINS, checkin("c6", student, day))
    await settled(points, bus, 7)
    base = f"http://127.0.0.1:{points.http_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/camps/c6/leaderboard?top=2") as resp:
            board = await resp.json()
        async with http.get(f"{base}/students/ann/history?camp=c6") as resp:
            history = await resp.json()
        async with http.get(f"{base}/camps/c6/students/cat/balance") as resp:
            balance = await resp.json()
        async with http.get(f"{base}/camps/c6/leaderboard?top=0") as resp:
            assert resp.status == 400
    assert board["leaderboard"] == [
        {"rank": 1, "student_id": "ann", "display_name": None, "points": 30},
        {"rank": 2, "student_id": "cat", "display_name": None, "points": 20},
    ]
    assert [(e["cause"], e["balance_after"]) for e in history["entries"]] == [
        ("day:1", 10),
        ("day:2", 20),
        ("day:3", 30),
    ]
    assert balance["balance"] == 20

    text = await explain(settings.database_url, "ann", "c6")
    assert text.startswith("ann in camp c6: balance 30")
    assert "checkin 3x = +30; total 30" in text
    assert "contract-defaults-1" in text
    # Times are the camp's local times, and the account says which zone they are in.
    assert "times in Asia/Shanghai" in text
    assert "2026-11-22 20:05" in text


async def _both_assigned(replicas: list[ServiceRuntime]) -> bool:
    states = [await r.readiness() for r in replicas]
    return all(s["partitions_assigned"] for s in states)


async def _until_balance(settings: Settings, student: str, value: int) -> None:
    async def reached() -> bool:
        entries = await ledger(settings, student)
        return bool(entries) and entries[-1]["balance_after"] == value

    await wait_for(reached, 20, f"{student} balance {value}")


async def test_leaderboards_rank_by_points_earned_weekly_and_around_a_student(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("lb"))
    names = {"ann": "安安", "bob": "Bob", "cat": "Cat", "dan": "Dan"}
    for student, name in names.items():
        await bus.send(
            topics.ENROLLMENTS,
            event(camp_id="lb", student_id=student, display_name=name),
        )
    # week 1: ann 3 days, bob 2, cat 2; week 2 (day 8): dan 1 and cat 1
    plan = {"ann": [1, 2, 3], "bob": [1, 2], "cat": [1, 2, 8], "dan": [8]}
    for student, days in plan.items():
        for day in days:
            await bus.send(topics.CHECKINS, checkin("lb", student, day))
    # ann spends 20 of her 30: her balance drops, her rank does not
    await bus.send(
        topics.REDEMPTIONS,
        event(camp_id="lb", student_id="ann", request_id="r1", item_id="mug", cost=20),
    )
    await settled(points, bus, 1 + 4 + 8 + 1)
    base = f"http://127.0.0.1:{points.http_port}"

    async def get(path: str) -> Any:
        async with aiohttp.ClientSession() as http, http.get(base + path) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    board = (await get("/camps/lb/leaderboard"))["leaderboard"]
    assert [(r["rank"], r["student_id"], r["display_name"], r["points"]) for r in board] == [
        (1, "ann", "安安", 30),  # earned 30, holds 10 after the redemption
        (1, "cat", "Cat", 30),  # equal totals share a rank
        (3, "bob", "Bob", 20),
        (4, "dan", "Dan", 10),
    ]
    weekly = (await get("/camps/lb/weeks/1/leaderboard"))["leaderboard"]
    assert [(r["rank"], r["student_id"], r["points"]) for r in weekly] == [
        (1, "ann", 30),
        (2, "bob", 20),
        (2, "cat", 20),  # equal totals share a rank
    ]
    week2 = (await get("/camps/lb/weeks/2/leaderboard"))["leaderboard"]
    assert [(r["rank"], r["student_id"], r["points"]) for r in week2] == [
        (1, "cat", 10),
        (1, "dan", 10),
    ]
    hidden = (await get("/camps/lb/weeks/1/leaderboard?names=hide"))["leaderboard"]
    assert hidden == [
        {"rank": 1, "points": 30},
        {"rank": 2, "points": 20},
        {"rank": 2, "points": 20},
    ]
    place = await get("/camps/lb/students/bob/rank?week=1&around=1&names=hide")
    assert (place["rank"], place["points"]) == (2, 20)
    assert place["above"] == [{"rank": 1, "points": 30}]
    assert place["below"] == [{"rank": 2, "points": 20}]
    nobody = await get("/camps/lb/students/zed/rank")
    assert (nobody["rank"], nobody["points"]) == (None, 0)


async def test_a_share_waits_for_its_work_then_its_camp_and_is_paid_once(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    share = event(camp_id="sw", student_id="s1", submission_id="w1")
    await bus.send(topics.SHARES, share)  # before its work and its camp
    await bus.send(topics.SUBMISSIONS, work("sw", "s1", "w1"))
    await settled(points, bus, 2)
    assert [e["rule_id"] for e in await ledger(settings)] == ["submission"]
    conn = await asyncpg.connect(settings.database_url)
    try:  # its work known, the share now waits for the camp
        held = await conn.fetch("SELECT topic, camp_id, submission_id FROM points.gate_held")
    finally:
        await conn.close()
    assert [tuple(r) for r in held] == [(topics.SHARES, "sw", None)]

    await bus.send(topics.CAMPS, camp("sw"))
    await settled(points, bus, 3)
    paid = sorted((e["rule_id"], e["cause"]) for e in await ledger(settings))
    assert paid == [("share", "submission:w1"), ("submission", "assignment:a-w1")]


FREEZES = """
version: "freezes"
camps:
  fz-earn:
    streak: {freeze: {enabled: true, earn_every_days: 3, max_held: 2}}
  fz-buy:
    streak: {freeze: {enabled: true, earn_every_days: 0, item_id: streak-freeze}}
"""


async def test_a_streak_freeze_earned_or_bought_holds_the_run(
    settings: Settings, bus: Bus, tmp_path: Path
) -> None:
    async with points_with_rules(settings, tmp_path / "rules.yaml", FREEZES) as runtime:
        days = [1, 2, 3, 5, 6, 7, 8]  # day 4 missed: runs of 3 and 4 without a freeze
        sent = 0
        for c in ("fz-earn", "fz-buy", "fz-none"):
            await bus.send(topics.CAMPS, camp(c, starts_on="2026-11-20"))
            for d in days:
                await bus.send(topics.CHECKINS, checkin(c, "ann", d))
            sent += 1 + len(days)
        await settled(runtime, bus, sent)

        def streaks(entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
            return {(e["camp_id"], e["cause"]) for e in entries if e["rule_id"] == "streak"}

        # earned with the first 3 days, used on day 4: 1-3 + 5-8 is a run of 7
        assert streaks(await ledger(settings, "ann")) == {("fz-earn", "run:7")}
        # bought on day 2 (after the check-ins arrived): the run completes then
        await bus.send(
            topics.REDEMPTIONS,
            {
                "event_id": new_id(),
                "occurred_at": "2026-11-21T12:00:00+08:00",
                "camp_id": "fz-buy",
                "student_id": "ann",
                "request_id": "freeze-1",
                "item_id": "streak-freeze",
                "cost": 10,
            },
        )
        await settled(runtime, bus, sent + 1)
        entries = await ledger(settings, "ann")
        assert streaks(entries) == {("fz-earn", "run:7"), ("fz-buy", "run:7")}
        bought = [e for e in entries if e["rule_id"] == "redemption"]
        assert [(e["camp_id"], e["delta"]) for e in bought] == [("fz-buy", -10)]
        # the read API, as of today (the wall clock: camp day 10 or later, whichever day the
        # test runs): the run held on day 4; the freeze earned on day 6 went on day 9, and the
        # run broke on day 10
        port = runtime.http_port
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/camps/fz-earn/students/ann/streak"
            async with http.get(url) as r:
                view = await r.json()
            async with http.get(url.replace("fz-earn", "fz-none")) as r:
                plain = await r.json()
        today = camp_day(date(2026, 11, 20), "Asia/Shanghai", datetime.now(UTC))
        assert view["day"] == min(today, 21) >= 10
        assert view["longest_run"] == 7 and view["current_run"] == 0
        assert view["freezes"] == {
            "enabled": True,
            "held": 0,
            "earned": 2,
            "bought": 0,
            "used_on": [4, 9],
        }
        assert plain["longest_run"] == 4 and plain["freezes"]["enabled"] is False
