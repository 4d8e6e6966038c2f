"""The contests service on the real broker and PostgreSQL, on simulated time: entries, every
vote rule, the close (exactly once, replicas racing), ranking ties, prizes paid by the points
service, the leaderboard, the history and the report of voting rings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

from services.contests.app import create_app
from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, new_id, wait_for
from tests.integration.world import World, enrollment, get_json, review, submission, total

CLOSER = "gamify_contests_closer_clock_seconds"


def sh(day: int, hhmm: str) -> str:
    return f"2026-11-{19 + day:02d}T{hhmm}+08:00"


def entry(camp_id: str, student: str, sub: str, at: str) -> dict[str, Any]:
    return {**submission(camp_id, student, sub, f"作品 {sub}", at), "contest_entry": True}


def vote(camp_id: str, voter: str, sub: str, at: str) -> dict[str, Any]:
    return {
        "event_id": new_id("vote"),
        "occurred_at": at,
        "camp_id": camp_id,
        "voter_id": voter,
        "submission_id": sub,
    }


def world(bus: Bus, settings: Settings, *replicas: ServiceRuntime) -> World:
    return World(bus, settings, *replicas, schema="contests", pass_gauge=CLOSER)


async def test_a_week_closes_once_with_every_vote_rule_and_pays_its_prizes(
    contests: ServiceRuntime,
    points: ServiceRuntime,
    bus: Bus,
    topic_settings: Settings,
    tmp_path: Path,
) -> None:
    w = world(bus, topic_settings, contests)
    await w.send(topics.CAMPS, camp("k1", starts_on="2026-11-20", days=21))
    await w.send(
        topics.ENROLLMENTS,
        *(
            enrollment("k1", s, s, "2026-11-10T10:00:00+08:00")
            for s in ("amy", "bob", "cat", "dan")
        ),
    )
    await w.tick(sh(1, "12:00"))
    # a vote that arrives before its entry is held, not lost
    await w.send(topics.VOTES, vote("k1", "dan", "b", sh(3, "12:00")))
    await w.send(
        topics.SUBMISSIONS,
        entry("k1", "amy", "a", sh(2, "10:00")),
        entry("k1", "bob", "b", sh(3, "10:00")),  # ties amy on votes and score: later, so 2nd
        entry("k1", "cat", "c", sh(2, "09:00")),
        {**submission("k1", "dan", "d", "not entered", sh(2, "09:00")), "contest_entry": False},
    )
    await w.send(
        topics.REVIEWS,
        review("k1", "amy", "a", sh(4, "10:00"), score=90),
        review("k1", "bob", "b", sh(4, "10:00"), score=85),
        review("k1", "bob", "b", sh(4, "11:00"), score=90),  # the best review counts
        review("k1", "cat", "c", sh(4, "10:00"), score=99),
    )
    await w.send(
        topics.VOTES,
        vote("k1", "cat", "a", sh(3, "12:00")),
        vote("k1", "dan", "a", sh(3, "13:00")),
        vote("k1", "dan", "a", sh(3, "14:00")),  # the same vote again: once per voter and work
        vote("k1", "amy", "b", sh(3, "12:00")),
        vote("k1", "amy", "a", sh(3, "12:00")),  # own work
        vote("k1", "zed", "a", sh(3, "12:00")),  # not enrolled
        vote("k1", "amy", "nope", sh(3, "12:00")),  # no such entry
        vote("k1", "bob", "c", "2026-11-27T00:00:00+08:00"),  # cast as the week closed
    )
    status, live = await get_json(contests.http_port, "/camps/k1/contests/1")
    assert status == 200 and live["status"] == "open"
    assert [(r["student_id"], r["votes"]) for r in live["ranking"]] == [
        ("amy", 2),
        ("bob", 2),
        ("cat", 0),
    ]

    await w.tick("2026-11-26T23:59:59+08:00")
    assert await bus.read_quiet(topics.CONTESTS, settle=0.5) == []
    await w.tick("2026-11-27T00:00:00+08:00")
    [result] = await w.published(topics.CONTESTS, 1)
    assert result["week"] == 1 and result["camp_id"] == "k1"
    assert result["closed_at"] == "2026-11-27T00:00:00+08:00"  # the camp's local midnight
    assert [
        (r["rank"], r["student_id"], r["submission_id"], r["votes"], r["score"])
        for r in result["ranking"]
    ] == [(1, "amy", "a", 2, 90), (2, "bob", "b", 2, 90), (3, "cat", "c", 0, 99)]
    [gift] = await w.published(topics.GIFTS, 1)
    assert (gift["student_id"], gift["gift_id"]) == ("amy", "coupon")

    # a vote cast in week 1 that arrives after the close changes nothing and is counted
    await w.send(topics.VOTES, vote("k1", "cat", "b", sh(6, "12:00")))
    await w.tick("2026-11-27T00:05:00+08:00")
    assert len(await bus.read_quiet(topics.CONTESTS, settle=0.5)) == 1
    samples = await w.metrics()
    expected = {
        "counted": 4,
        "duplicate": 1,
        "own_work": 1,
        "not_enrolled": 1,
        "unknown_entry": 1,
        "week_closed": 1,
        "late": 1,
    }
    for outcome, n in expected.items():
        assert total(samples, "gamify_contest_votes_total", outcome=outcome) == n, outcome
    assert total(samples, "gamify_contest_weeks_settled_total") == 1

    async def prizes() -> dict[str, int]:
        conn = await asyncpg.connect(topic_settings.database_url)
        try:
            rows = await conn.fetch(
                "SELECT student_id, delta FROM points.ledger WHERE rule_id = 'contest'"
            )
        finally:
            await conn.close()
        return {r["student_id"]: r["delta"] for r in rows}

    async def paid() -> bool:
        return len(await prizes()) == 2

    await wait_for(paid, what="the contest prizes paid by the points service")
    # cat ranks 3rd with no counted vote: below min_votes_for_prize (1), no prize
    assert [r["prize"] for r in result["ranking"]] == [True, True, False]
    assert await prizes() == {"amy": 100, "bob": 60}

    status, history = await get_json(contests.http_port, "/camps/k1/contests")
    assert status == 200
    assert [(h["week"], h["status"]) for h in history["weeks"]] == [
        (1, "settled"),
        (2, "open"),
        (3, "upcoming"),
    ]
    assert history["weeks"][0]["ranking"] == result["ranking"]


async def test_an_empty_week_a_single_entry_and_a_short_last_week(
    contests: ServiceRuntime, bus: Bus, topic_settings: Settings
) -> None:
    w = world(bus, topic_settings, contests)
    await w.send(topics.CAMPS, camp("k2", starts_on="2026-11-20", days=10))
    await w.send(topics.ENROLLMENTS, enrollment("k2", "solo", "solo", "2026-11-10T10:00:00Z"))
    await w.send(topics.SUBMISSIONS, entry("k2", "solo", "only", sh(9, "10:00")))
    await w.tick(sh(9, "12:00"))
    [week1] = await w.published(topics.CONTESTS, 1)
    assert (week1["week"], week1["ranking"]) == (1, [])
    await w.tick("2026-11-29T23:59:59+08:00")  # day 10 is the camp's last: week 2 ends with it
    await w.tick("2026-11-30T00:00:00+08:00")
    results = await w.published(topics.CONTESTS, 2)
    assert [(r["week"], len(r["ranking"])) for r in results] == [(1, 0), (2, 1)]
    assert results[1]["ranking"][0] == {
        "rank": 1,
        "student_id": "solo",
        "submission_id": "only",
        "votes": 0,
        "score": None,
        "prize": False,
    }
    # a lone entry with no votes is ranked but wins nothing (contract: min_votes_for_prize)
    assert await bus.read_quiet(topics.GIFTS, settle=0.3) == []
    status, missing = await get_json(contests.http_port, "/camps/k2/contests/3")
    assert status == 404 and "1..2" in missing["error"]


async def test_replicas_race_to_close_and_each_week_is_settled_once(
    bus: Bus, topic_settings: Settings
) -> None:
    replicas = [create_app(topic_settings), create_app(topic_settings)]
    for r in replicas:
        await r.start()
    try:
        w = world(bus, topic_settings, *replicas)
        camps = [f"r{i}" for i in range(6)]
        await w.send(topics.CAMPS, *(camp(c, starts_on="2026-11-20", days=14) for c in camps))
        await w.send(
            topics.SUBMISSIONS,
            *(entry(c, f"{c}-s{j}", f"{c}-w{j}", sh(2, "10:00")) for c in camps for j in range(3)),
        )
        # one vote for each camp's first entry: its winner has a prize to take
        await w.send(
            topics.ENROLLMENTS, *(enrollment(c, f"{c}-s1", "x", sh(1, "10:00")) for c in camps)
        )
        await w.send(topics.VOTES, *(vote(c, f"{c}-s1", f"{c}-w0", sh(3, "10:00")) for c in camps))
        await w.tick("2026-12-04T00:00:01+08:00")  # both weeks of every camp are over
        results = await w.published(topics.CONTESTS, 12)
        assert sorted((r["camp_id"], r["week"]) for r in results) == [
            (c, wk) for c in camps for wk in (1, 2)
        ]
        assert len({r["event_id"] for r in results}) == 12
        assert total(await w.metrics(), "gamify_contest_weeks_settled_total") == 12
        gifts = await w.published(topics.GIFTS, 6)
        assert len(gifts) == 6  # a coupon per camp, for week 1's winner (week 2 is empty)
    finally:
        for r in replicas:
            await r.stop()


async def test_the_vote_cap_per_camp_and_a_ring_of_mutual_votes(
    bus: Bus, topic_settings: Settings, tmp_path: Path
) -> None:
    book = tmp_path / "contests.yaml"
    book.write_text(
        "vote_cap_per_week: 5\n"
        "camps:\n  k3: {vote_cap_per_week: 2, prize_gifts: {1: book, 2: pen}}\n",
        encoding="utf-8",
    )
    settings = topic_settings.model_copy(update={"contests_file": book})
    runtime = create_app(settings)
    await runtime.start()
    try:
        w = world(bus, settings, runtime)
        students = ["ann", "ben", "cal", "dee", "eli"]
        await w.send(topics.CAMPS, camp("k3", starts_on="2026-11-20", days=7))
        await w.send(
            topics.ENROLLMENTS, *(enrollment("k3", s, s, "2026-11-10T10:00:00Z") for s in students)
        )
        await w.send(
            topics.SUBMISSIONS, *(entry("k3", s, f"w-{s}", sh(1, "10:00")) for s in students)
        )
        await w.send(
            topics.VOTES,
            # ann and ben vote only for each other
            vote("k3", "ann", "w-ben", sh(2, "10:00")),
            vote("k3", "ben", "w-ann", sh(2, "10:00")),
            # eli votes four times: the first two count
            *(vote("k3", "eli", f"w-{s}", sh(2, f"1{i}:00")) for i, s in enumerate(students[:4])),
            vote("k3", "cal", "w-ann", sh(2, "10:00")),
        )
        status, report = await get_json(runtime.http_port, "/camps/k3/contests/1/suspicious")
        assert status == 200
        assert report["rings"] == [["ann", "ben"]]
        assert report["voters_at_cap"] == ["eli"]
        assert report["rejected_votes_by_voter"] == {"eli": {"over_cap": 2}}
        await w.tick("2026-11-27T00:00:00+08:00")
        [result] = await w.published(topics.CONTESTS, 1)
        assert [(r["student_id"], r["votes"]) for r in result["ranking"][:2]] == [
            ("ann", 3),
            ("ben", 2),
        ]
        gifts = await w.published(topics.GIFTS, 2)
        assert sorted((g["student_id"], g["gift_id"]) for g in gifts) == [
            ("ann", "book"),
            ("ben", "pen"),
        ]
    finally:
        await runtime.stop()
