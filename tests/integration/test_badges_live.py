"""The badges service on the real broker and PostgreSQL: each badge once per camp and student,
whatever the order of arrival, with progress, seed students and credentials readable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from services.badges.app import create_app
from services.badges.config import BadgeBook
from shared import topics
from shared.config import load_yaml
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, metric, new_id, scrape, wait_for, work

AT = "2026-11-22T20:05:00+08:00"


def lesson(
    camp_id: str, student: str, lesson_id: str, watched: int, duration: int = 600
) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "occurred_at": AT,
        "camp_id": camp_id,
        "student_id": student,
        "lesson_id": lesson_id,
        "watched_seconds": watched,
        "duration_seconds": duration,
    }


def review(
    camp_id: str, student: str, submission: str, excellent: bool = True, score: int = 95
) -> dict[str, Any]:
    return {
        "event_id": new_id(),
        "occurred_at": AT,
        "camp_id": camp_id,
        "student_id": student,
        "submission_id": submission,
        "reviewer_id": "teacher",
        "score": score,
        "excellent": excellent,
    }


async def awards(settings: Settings) -> list[tuple[str, str, str]]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT camp_id, student_id, badge_id FROM badges.awards ORDER BY 1, 2, 3"
        )
        return [(r["camp_id"], r["student_id"], r["badge_id"]) for r in rows]
    finally:
        await conn.close()


async def settled(runtime: ServiceRuntime, n_inputs: int) -> None:
    async def done() -> bool:
        s = await scrape(runtime.http_port)
        return (
            metric(s, "gamify_events_processed_total") >= n_inputs
            and metric(s, "gamify_outbox_backlog") == 0
        )

    await wait_for(done, 20, f"{n_inputs} inputs processed")


async def get(port: int, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.json(content_type=None)


async def test_each_badge_is_issued_once_even_with_every_event_twice(
    badges: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    inputs: list[tuple[str, dict[str, Any]]] = [(topics.CAMPS, camp("b1", days=21, lessons=2))]
    inputs += [(topics.CHECKINS, checkin("b1", "ann", d)) for d in range(1, 22)]
    inputs += [(topics.SUBMISSIONS, work("b1", "ann", f"w{i}")) for i in range(3)]
    inputs += [(topics.REVIEWS, review("b1", "ann", f"w{i}")) for i in range(3)]
    inputs += [(topics.REVIEWS, review("b1", "ann", "w0"))]  # re-reviewed: still 3 works
    inputs += [
        (topics.LESSONS, lesson("b1", "ann", "l1", 480)),
        (topics.LESSONS, lesson("b1", "ann", "l2", 600)),
    ]
    for _ in range(2):
        for topic, body in inputs:
            await bus.send(topic, body)
    await settled(badges, 2 * len(inputs))
    assert await awards(settings) == [
        ("b1", "ann", b)
        for b in sorted(
            [
                "streak-7",
                "streak-21",
                "first-excellent",
                "excellent-3",
                "completion",
                "seed-student",
            ]
        )
    ]
    out = await bus.read(topics.BADGES, until=lambda m: len(m) >= 6)
    assert sorted(m["badge_id"] for m in out) == sorted(
        ["streak-7", "streak-21", "first-excellent", "excellent-3", "completion", "seed-student"]
    )
    assert len({m["event_id"] for m in out}) == 6
    samples = await scrape(badges.http_port)
    assert metric(samples, "gamify_badges_awarded_total") == 6


async def test_lessons_and_checkins_before_the_camp_complete_when_it_arrives(
    badges: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    for d in range(1, 9):  # 8 of 10 days: exactly 80%
        await bus.send(topics.CHECKINS, checkin("b2", "bob", d))
    await bus.send(topics.LESSONS, lesson("b2", "bob", "l1", 100))
    await bus.send(topics.LESSONS, lesson("b2", "bob", "l1", 479))  # best so far: 79.8%
    await bus.send(topics.LESSONS, lesson("b2", "bob", "l1", 200))  # a lower report later
    await settled(badges, 11)
    assert ("b2", "bob", "completion") not in await awards(settings)
    await bus.send(topics.CAMPS, camp("b2", days=10, lessons=1))
    await settled(badges, 12)
    assert ("b2", "bob", "completion") not in await awards(settings)  # 79.8% < 80%

    await bus.send(topics.LESSONS, lesson("b2", "bob", "l1", 480))  # exactly 80%
    await settled(badges, 13)
    assert ("b2", "bob", "completion") in await awards(settings)

    status, body = await get(badges.http_port, "/camps/b2/students/bob/badges")
    assert status == 200 and body["camp_known"] is True
    by_id = {b["id"]: b for b in body["badges"]}
    assert by_id["completion"]["earned"] is True
    assert by_id["streak-21"]["earned"] is False
    assert by_id["streak-21"]["progress"] == [
        {"criterion": "streak_days", "current": 8, "target": 21, "met": False}
    ]


async def test_completion_arrives_with_a_late_camp_definition(
    badges: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    for d in range(1, 5):
        await bus.send(topics.CHECKINS, checkin("b3", "cy", d))
    await bus.send(topics.LESSONS, lesson("b3", "cy", "l1", 600))
    await settled(badges, 5)
    await bus.send(topics.CAMPS, camp("b3", days=5, lessons=1))
    await settled(badges, 6)
    assert await awards(settings) == [("b3", "cy", "completion")]
    [message] = await bus.read(topics.BADGES, until=lambda m: len(m) >= 1)
    assert message["badge_id"] == "completion"


async def test_a_camps_new_definition_re_evaluates_the_students_seen_in_it(
    badges: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    """Nothing of theirs is held for the camp (it is known): the students' rows are what the
    new definition finds them by."""
    await bus.send(topics.CAMPS, camp("b5", days=10, lessons=1))
    for d in range(1, 5):
        await bus.send(topics.CHECKINS, checkin("b5", "dee", d))
    await bus.send(topics.LESSONS, lesson("b5", "dee", "l1", 600))
    await settled(badges, 6)
    assert await awards(settings) == []  # 4 of 10 days
    await bus.send(
        topics.CAMPS, camp("b5", days=5, lessons=1, occurred_at="2026-11-02T00:00:00+08:00")
    )
    await settled(badges, 7)
    assert await awards(settings) == [("b5", "dee", "completion")]  # 4 of 5


async def test_seed_students_are_listed_with_their_evidence_and_counts_per_badge(
    badges: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("b4", days=30))
    for d in range(1, 15):
        await bus.send(topics.CHECKINS, checkin("b4", "dee", d))
        await bus.send(topics.CHECKINS, checkin("b4", "eve", d))
    for student, sub in (("dee", "w1"), ("dee", "w2"), ("eve", "w3"), ("eve", "w4")):
        await bus.send(topics.SUBMISSIONS, work("b4", student, sub))
    await bus.send(topics.REVIEWS, review("b4", "dee", "w1", score=97))
    await bus.send(topics.REVIEWS, review("b4", "dee", "w2", score=91))
    await bus.send(topics.REVIEWS, review("b4", "eve", "w3", score=92))  # one short
    await bus.send(topics.REVIEWS, review("b4", "eve", "w4", excellent=False))
    await settled(badges, 37)  # the camp, 28 check-ins, 4 works and 4 reviews
    status, body = await get(badges.http_port, "/camps/b4/seed-students")
    assert status == 200
    assert [s["student_id"] for s in body["seed_students"]] == ["dee"]
    [dee] = body["seed_students"]
    assert dee["checkin_days"] == 14
    assert dee["excellent_works"] == [
        {"submission_id": "w1", "score": 97},
        {"submission_id": "w2", "score": 91},
    ]
    _, counts = await get(badges.http_port, "/camps/b4/badges")
    assert counts["holders"] == {
        "streak-7": 2,
        "streak-21": 0,
        "first-excellent": 2,
        "excellent-3": 0,
        "completion": 0,
        "seed-student": 1,
    }

    status, cred = await get(
        badges.http_port, "/camps/b4/students/dee/badges/seed-student/credential"
    )
    assert status == 200 and "OpenBadgeCredential" in cred["type"]
    assert cred["credentialSubject"]["achievement"]["name"].startswith("种子学员")
    status, _ = await get(badges.http_port, "/camps/b4/students/eve/badges/seed-student/credential")
    assert status == 404


async def test_a_new_badge_added_to_the_file_is_awarded_without_a_restart(
    settings: Settings, bus: Bus, tmp_path: Path
) -> None:
    book = tmp_path / "badges.yaml"
    book.write_text(
        "version: one\nseed_badge: null\nbadges:\n"
        "  - {id: streak-3, name: S3, description: d, image: i, criteria: {streak_days: 3}}\n",
        encoding="utf-8",
    )
    runtime = create_app(settings.model_copy(update={"badges_file": book}))
    await runtime.start()
    try:
        await bus.send(topics.CAMPS, camp("b5"))
        for d in range(1, 4):
            await bus.send(topics.CHECKINS, checkin("b5", "fay", d))
        await settled(runtime, 4)
        assert await awards(settings) == [("b5", "fay", "streak-3")]

        book.write_text(
            book.read_text(encoding="utf-8").replace("version: one", "version: two")
            + "  - {id: streak-4, name: S4, description: d, image: i,"
            " criteria: {streak_days: 4}}\n",
            encoding="utf-8",
        )
        os.utime(book, (1_000, 1_000))
        two = load_yaml(book, BadgeBook).version  # the label and the content's digest
        assert two.startswith("two@")
        await bus.send(topics.CHECKINS, checkin("b5", "fay", 4))
        await settled(runtime, 5)
        assert await awards(settings) == [("b5", "fay", "streak-3"), ("b5", "fay", "streak-4")]

        book.write_text("badges: [oops", encoding="utf-8")
        os.utime(book, (2_000, 2_000))
        await bus.send(topics.CHECKINS, checkin("b5", "fay", 5))
        await settled(runtime, 6)
        samples = await scrape(runtime.http_port)
        assert metric(samples, "gamify_badges_definitions_rejected_total") == 1
        assert metric(samples, "gamify_badges_definitions_version", version=two) == 1
    finally:
        await runtime.stop()
