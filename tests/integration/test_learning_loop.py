"""The learning loop through the real nudges and badges services, broker and database: homework
nudges on a due day (one reminder-or-homework a day), homework rates, the teachers' review and
question queues with their waits as metrics, answers before their questions, reviews before
their submissions, and each student's part in the Q&A corner as seed-student evidence."""

from __future__ import annotations

import asyncio
from typing import Any

from services.badges.handlers import INPUTS as BADGES_INPUTS
from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, metric, new_id, processed, scrape, wait_for
from tests.integration.world import World, enrollment, get_json, preference

C = "loop1"


def sh(day: int, hhmm: str) -> str:
    return f"2026-11-{19 + day:02d}T{hhmm}+08:00"


def work(student: str, submission_id: str, assignment: str, tier: str, at: str) -> dict[str, Any]:
    return {
        "event_id": new_id("sub"),
        "occurred_at": at,
        "camp_id": C,
        "student_id": student,
        "submission_id": submission_id,
        "assignment_id": assignment,
        "tier": tier,
        "title": f"作品 {submission_id}",
        "url": f"https://example.org/{submission_id}",
        "contest_entry": False,
    }


def review(student: str, submission_id: str, at: str) -> dict[str, Any]:
    return {
        "event_id": new_id("rev"),
        "occurred_at": at,
        "camp_id": C,
        "student_id": student,
        "submission_id": submission_id,
        "reviewer_id": "teacher-li",
        "score": 80,
        "excellent": False,
    }


def question(student: str, question_id: str, category: str, at: str) -> dict[str, Any]:
    return {
        "event_id": new_id("q"),
        "occurred_at": at,
        "camp_id": C,
        "student_id": student,
        "question_id": question_id,
        "category": category,
    }


def answer(asker: str, question_id: str, by: str, role: str, at: str) -> dict[str, Any]:
    return {
        "event_id": new_id("a"),
        "occurred_at": at,
        "camp_id": C,
        "student_id": asker,
        "question_id": question_id,
        "answerer_id": by,
        "answerer_role": role,
    }


async def test_the_learning_loop_through_the_real_services(
    nudges: ServiceRuntime, badges: ServiceRuntime, bus: Bus, topic_settings: Settings
) -> None:
    w = World(bus, topic_settings, nudges)
    to_badges: list[str] = []

    async def send(topic: str, *events: dict[str, Any]) -> None:
        await w.send(topic, *events)
        if topic in BADGES_INPUTS:
            to_badges.extend(e["event_id"] for e in events)

    schedule = [("b1", "basic", 1), ("p1", "practice", 3), ("c1", "challenge", 3)]
    await send(topics.CAMPS, camp(C, starts_on="2026-11-20", assignments=schedule))
    students = ["ann", "ben", "cal", "dan"]
    await send(topics.ENROLLMENTS, *(enrollment(C, s, s.upper(), sh(1, "00:00")) for s in students))
    await send(topics.PREFERENCES, preference(C, "dan", sh(1, "00:00"), opt_out=True))
    await w.tick(sh(1, "00:01"))
    await send(
        topics.CHECKINS,
        # ann every day; ben and cal on day 1 only (slipping on day 3: a reminder is due)
        *(checkin(C, s, 1, occurred_at=sh(1, "08:00")) for s in students),
        *(checkin(C, s, 2, occurred_at=sh(2, "08:00")) for s in ("ann", "dan")),
        checkin(C, "ann", 3, occurred_at=sh(3, "08:00")),
    )
    # ann: p1 on day 2, then a review of it that arrives before the work itself
    await send(topics.REVIEWS, review("ann", "ann-p1", sh(3, "09:00")))
    await send(
        topics.SUBMISSIONS,
        work("ann", "ann-b1", "b1", "basic", sh(1, "21:00")),
        work("ann", "ann-p1", "p1", "practice", sh(2, "10:00")),
        work("cal", "cal-b1", "b1", "basic", sh(2, "09:00")),  # late: b1 was due on day 1
        work("cal", "cal-p1", "p1", "practice", sh(2, "11:00")),
        work("cal", "cal-c1", "c1", "challenge", sh(3, "07:00")),
    )
    # ann asks at 10:00, a teacher answers at 12:30; ben's answer to q2 comes before q2 and
    # is by an assistant; cal's q3 is answered only by a classmate (ann)
    await send(
        topics.ANSWERS,
        answer("ben", "q2", "assistant-wu", "assistant", sh(3, "11:00")),
        answer("cal", "q3", "ann", "student", sh(3, "11:30")),
    )
    await send(
        topics.QUESTIONS,
        question("ann", "q1", "howto", sh(3, "10:00")),
        question("ben", "q2", "content", sh(3, "10:45")),
        question("cal", "q3", "extension", sh(3, "11:00")),
    )
    await send(topics.ANSWERS, answer("ann", "q1", "teacher-li", "teacher", sh(3, "12:30")))

    await w.tick(sh(3, "20:00"))
    out = await w.published(topics.NUDGES, 3)
    day3 = {(n["student_id"], n["kind"]): n for n in out if n["due_at"].startswith("2026-11-22")}
    # ann checked in today, but c1 is due and not handed in; ben has both due and gets the
    # homework nudge instead of his reminder; cal handed in both and gets the ordinary
    # reminder; dan opted out
    assert set(day3) == {("ann", "homework"), ("ben", "homework"), ("cal", "reminder")}
    assert "月度挑战" in day3[("ann", "homework")]["message"]
    assert "每周实践" not in day3[("ann", "homework")]["message"]
    assert "每周实践、月度挑战" in day3[("ben", "homework")]["message"]
    decided = await w.rows(
        "SELECT student_id, kind, status FROM nudges.nudges WHERE day = 3 ORDER BY 1"
    )
    assert [(r["student_id"], r["kind"], r["status"]) for r in decided] == [
        ("ann", "homework", "sent"),
        ("ben", "homework", "sent"),
        ("cal", "reminder", "sent"),
        ("dan", "reminder", "skipped"),
    ]

    port = nudges.http_port
    status, queue = await get_json(port, f"/camps/{C}/reviews/waiting")
    assert status == 200
    # ann-p1 was reviewed (the review came first); the rest wait, oldest first
    assert [x["submission_id"] for x in queue["works"]] == [
        "ann-b1",
        "cal-b1",
        "cal-p1",
        "cal-c1",
    ]
    assert queue["works"][0]["overdue"] is True  # day 1 21:00 -> day 3 20:00
    assert (
        queue["works"][-1]["overdue"] is False and queue["works"][-1]["waited_seconds"] == 13 * 3600
    )
    status, questions = await get_json(port, f"/camps/{C}/questions/waiting")
    assert [q["question_id"] for q in questions["questions"]] == ["q3"]  # a classmate's answer
    status, none = await get_json(port, f"/camps/{C}/questions/waiting?category=howto")
    assert none["questions"] == []
    assert (await get_json(port, f"/camps/{C}/questions/waiting?category=gossip"))[0] == 400

    status, ann = await get_json(port, f"/camps/{C}/students/ann/homework")
    assert ann["assignments"] == {"b1": "on_time", "p1": "on_time", "c1": "open"}
    assert ann["rate"] == {"on_time": 2, "due": 2, "rate": 1.0}
    status, cal = await get_json(port, f"/camps/{C}/students/cal/homework")
    assert cal["by_tier"]["basic"] == {"on_time": 0, "due": 1, "rate": 0.0}  # late
    status, board = await get_json(port, f"/camps/{C}/homework")
    assert [s["student_id"] for s in board["students"]][:3] == ["ben", "dan", "cal"]
    assert board["students"][0]["behind"] == ["b1"]

    samples = await scrape(port)
    assert metric(samples, "gamify_review_wait_seconds_count", camp=C) == 1
    assert metric(samples, "gamify_review_wait_seconds_sum", camp=C) == 23 * 3600
    assert metric(samples, "gamify_answer_wait_seconds_sum", camp=C, category="howto") == 9000
    # the answer came first: the wait is still from the question (10:45) to it (11:00)
    assert metric(samples, "gamify_answer_wait_seconds_sum", camp=C, category="content") == 900
    assert metric(samples, "gamify_answer_wait_seconds_count", camp=C, category="extension") == 0

    async def gauges() -> bool:
        s = await scrape(port)
        return (
            metric(s, "gamify_loop_queue_size", camp=C, queue="reviews") == 4
            and metric(s, "gamify_loop_queue_overdue", camp=C, queue="reviews") == 3
            and metric(s, "gamify_loop_queue_size", camp=C, queue="questions") == 1
            and metric(s, "gamify_homework_rate", camp=C, tier="basic") == 0.25
        )

    await wait_for(gauges, what="queue and homework gauges", timeout=30)

    # badges: a classmate's answer is ann's participation; cal's question is cal's
    await wait_for(
        lambda: processed(topic_settings.database_url, "badges", to_badges),
        what="badges caught up",
    )
    rows = await w.rows(
        "SELECT student_id, question_id FROM badges.answers_given"
        " UNION ALL SELECT student_id, question_id FROM badges.questions_asked ORDER BY 1, 2"
    )
    assert [(r[0], r[1]) for r in rows] == [
        ("ann", "q1"),
        ("ann", "q3"),
        ("ben", "q2"),
        ("cal", "q3"),
    ]
    handed = await w.rows("SELECT student_id, assignment_id FROM badges.handed_in ORDER BY 1, 2")
    assert len(handed) == 5


async def test_a_question_and_its_answer_taken_in_at_once_keep_both(database_url: str) -> None:
    """Two replicas during a rebalance: one takes in the question while the other, which read
    no row yet, takes in the answer. The answer's write waits for the question's and merges
    with it instead of overwriting it (found by the fault suite's audit)."""
    from datetime import datetime

    from services.nudges.app import MIGRATIONS
    from services.nudges.loop_store import QuestionFacts, save_questions
    from shared.db import apply_migrations, create_pool
    from shared.service import PLUMBING_MIGRATIONS

    pool = await create_pool(database_url, "nudges", 4)
    await apply_migrations(
        pool, "nudges", [("plumbing", PLUMBING_MIGRATIONS), ("nudges", MIGRATIONS)]
    )
    asked = datetime.fromisoformat(sh(2, "10:00"))
    answered = datetime.fromisoformat(sh(2, "11:30"))
    try:
        async with pool.acquire() as first, pool.acquire() as second:
            t1, t2 = first.transaction(), second.transaction()
            await t1.start()
            await t2.start()
            await save_questions(first, [QuestionFacts(C, "q9", "ann", "howto", asked_at=asked)])
            later = asyncio.create_task(
                save_questions(second, [QuestionFacts(C, "q9", "ann", answered_at=answered)])
            )
            await asyncio.sleep(0.3)
            assert not later.done()  # waiting for the question's row
            await t1.commit()
            waits = await later
            await t2.commit()
        row = await pool.fetchrow("SELECT * FROM questions WHERE question_id = 'q9'")
        assert (row["category"], row["asked_at"], row["first_answer_at"]) == (
            "howto",
            asked,
            answered,
        )
        assert waits == []  # the answer's reading saw no question: the wait is not observed
    finally:
        await pool.close()
