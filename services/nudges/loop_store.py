"""The learning loop's SQL in the nudges service: first reviews, questions and their first
staff answer, the teachers' queues, and the homework handed in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from services.nudges.store import Pair
from shared.db import pair_columns, students_rows
from shared.homework import wait_seconds


@dataclass(frozen=True, slots=True)
class FirstResponse:
    """The earliest review of a work, or staff answer to a question, in one batch."""

    camp_id: str
    item_id: str  # submission_id or question_id
    at: datetime


async def first_reviews(
    conn: asyncpg.Connection, reviews: Sequence[FirstResponse]
) -> list[tuple[str, float]]:
    """Record each work's first review; return (camp, wait in seconds) for the works reviewed
    here for the first time (a work's later or duplicate reviews change nothing; an earlier
    one arriving late moves the time but is not observed twice)."""
    if not reviews:
        return []
    rows = await conn.fetch(
        "WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])"
        "   AS u(c, s, at)),"
        " old AS (SELECT w.camp_id, w.submission_id, w.first_review_at AS before FROM works w"
        "   JOIN u ON w.camp_id = u.c AND w.submission_id = u.s FOR UPDATE OF w)"
        " UPDATE works w SET first_review_at = u.at FROM u, old"
        " WHERE w.camp_id = u.c AND w.submission_id = u.s"
        "   AND old.camp_id = u.c AND old.submission_id = u.s"
        "   AND (w.first_review_at IS NULL OR u.at < w.first_review_at)"
        " RETURNING w.camp_id, w.occurred_at, u.at, old.before",
        [r.camp_id for r in reviews],
        [r.item_id for r in reviews],
        [r.at for r in reviews],
    )
    return [
        (r["camp_id"], wait_seconds(r["occurred_at"], r["at"])) for r in rows if r["before"] is None
    ]


@dataclass(frozen=True, slots=True)
class QuestionFacts:
    """What one batch says of a question: when it was asked (and its category), and its
    earliest answer by a teacher or assistant, either of which may be unknown."""

    camp_id: str
    question_id: str
    student_id: str
    category: str | None = None
    asked_at: datetime | None = None
    answered_at: datetime | None = None


def _merge(
    known: QuestionFacts,
    category: str | None,
    asked_at: datetime | None,
    answered_at: datetime | None,
) -> QuestionFacts:
    """`known` with one more report: the earliest asking (with its category) and the earliest
    staff answer win."""
    if asked_at is not None and (known.asked_at is None or asked_at < known.asked_at):
        known = replace(known, category=category, asked_at=asked_at)
    if answered_at is not None and (known.answered_at is None or answered_at < known.answered_at):
        known = replace(known, answered_at=answered_at)
    return known


async def save_questions(
    conn: asyncpg.Connection, facts: Sequence[QuestionFacts]
) -> list[tuple[str, str, float]]:
    """Merge what is known of each question (the earliest asking, the earliest staff answer,
    in whatever order they came); return (camp, category, wait in seconds) for the questions
    whose wait became known in this batch."""
    if not facts:
        return []
    merged: dict[tuple[str, str], QuestionFacts] = {}
    for f in facts:
        k = (f.camp_id, f.question_id)
        first = merged.get(k) or QuestionFacts(*k, f.student_id)
        merged[k] = _merge(first, f.category, f.asked_at, f.answered_at)
    keys = sorted(merged)
    rows = await conn.fetch(
        "SELECT q.camp_id, q.question_id, q.category, q.asked_at, q.first_answer_at"
        " FROM questions q JOIN unnest($1::text[], $2::text[]) AS u(c, q)"
        " ON q.camp_id = u.c AND q.question_id = u.q ORDER BY 1, 2 FOR UPDATE OF q",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    before = {(r["camp_id"], r["question_id"]): r for r in rows}
    waits: list[tuple[str, str, float]] = []
    final: list[QuestionFacts] = []
    for k in keys:
        new, old = merged[k], before.get(k)
        if old is not None:
            new = _merge(new, old["category"], old["asked_at"], old["first_answer_at"])
        known_before = old is not None and None not in (old["asked_at"], old["first_answer_at"])
        if new.asked_at is not None and new.answered_at is not None and not known_before:
            wait = wait_seconds(new.asked_at, new.answered_at)
            waits.append((new.camp_id, new.category or "content", wait))
        final.append(new)
    await conn.execute(
        "INSERT INTO questions AS t (camp_id, question_id, student_id, category, asked_at,"
        " first_answer_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::timestamptz[], $6::timestamptz[]) ON CONFLICT (camp_id, question_id) DO UPDATE"
        # merged again here, so that a row written meanwhile is never overwritten by an older
        # reading (the callers' locks should make that impossible; this makes it harmless)
        " SET category = CASE WHEN excluded.asked_at < t.asked_at OR t.asked_at IS NULL"
        "   THEN coalesce(excluded.category, t.category) ELSE t.category END,"
        " asked_at = least(t.asked_at, excluded.asked_at),"
        " first_answer_at = least(t.first_answer_at, excluded.first_answer_at)",
        [f.camp_id for f in final],
        [f.question_id for f in final],
        [f.student_id for f in final],
        [f.category for f in final],
        [f.asked_at for f in final],
        [f.answered_at for f in final],
    )
    return waits


async def waiting_works(
    conn: asyncpg.Connection | asyncpg.Pool, camp_id: str, limit: int
) -> list[dict[str, Any]]:
    """Works not reviewed yet, oldest first."""
    rows = await conn.fetch(
        "SELECT w.submission_id, w.student_id, w.assignment_id, w.tier, w.title,"
        " w.occurred_at AS submitted_at FROM works w"
        " WHERE w.camp_id = $1 AND w.first_review_at IS NULL AND w.tier IS NOT NULL"
        " ORDER BY w.occurred_at, w.submission_id LIMIT $2",
        camp_id,
        limit,
    )
    return [dict(r) for r in rows]


async def waiting_questions(
    conn: asyncpg.Connection | asyncpg.Pool, camp_id: str, category: str | None, limit: int
) -> list[dict[str, Any]]:
    """Questions with no answer by a teacher or assistant yet, oldest first."""
    rows = await conn.fetch(
        "SELECT question_id, student_id, category, asked_at FROM questions"
        " WHERE camp_id = $1 AND first_answer_at IS NULL AND asked_at IS NOT NULL"
        " AND ($2::text IS NULL OR category = $2) ORDER BY asked_at, question_id LIMIT $3",
        camp_id,
        category,
        limit,
    )
    return [dict(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Queue:
    camp_id: str
    waiting: int
    oldest: datetime | None
    over: int  # waiting longer than the limit


async def queues(
    conn: asyncpg.Connection | asyncpg.Pool, now: datetime, review_s: float, answer_s: float
) -> tuple[list[Queue], list[Queue]]:
    """Per camp: the works waiting for a review and the questions waiting for an answer."""
    works = await conn.fetch(
        "SELECT camp_id, count(*) AS n, min(occurred_at) AS oldest,"
        " count(*) FILTER (WHERE occurred_at < $1::timestamptz"
        "   - make_interval(secs => $2::float8)) AS over"
        " FROM works WHERE first_review_at IS NULL AND tier IS NOT NULL GROUP BY camp_id",
        now,
        review_s,
    )
    questions = await conn.fetch(
        "SELECT camp_id, count(*) AS n, min(asked_at) AS oldest,"
        " count(*) FILTER (WHERE asked_at < $1::timestamptz"
        "   - make_interval(secs => $2::float8)) AS over"
        " FROM questions WHERE first_answer_at IS NULL AND asked_at IS NOT NULL"
        " GROUP BY camp_id",
        now,
        answer_s,
    )
    return (
        [Queue(r["camp_id"], r["n"], r["oldest"], r["over"]) for r in works],
        [Queue(r["camp_id"], r["n"], r["oldest"], r["over"]) for r in questions],
    )


async def handed_in(
    conn: asyncpg.Connection | asyncpg.Pool, pairs: Sequence[Pair]
) -> dict[Pair, list[tuple[str, datetime]]]:
    """(assignment_id, when) of every work of these students."""
    camps, students = pair_columns(pairs)
    rows = await conn.fetch(
        "SELECT t.camp_id, t.student_id, t.assignment_id, t.occurred_at"
        f" FROM {students_rows('works', ' AND t.assignment_id IS NOT NULL')}",
        camps,
        students,
    )
    out: dict[Pair, list[tuple[str, datetime]]] = defaultdict(list)
    for r in rows:
        out[(r["camp_id"], r["student_id"])].append((r["assignment_id"], r["occurred_at"]))
    return out


async def camp_handed_in(
    conn: asyncpg.Connection | asyncpg.Pool, camp_id: str
) -> dict[str, list[tuple[str, datetime]]]:
    """student -> (assignment_id, when) of every work handed in to the camp."""
    rows = await conn.fetch(
        "SELECT student_id, assignment_id, occurred_at FROM works"
        " WHERE camp_id = $1 AND assignment_id IS NOT NULL",
        camp_id,
    )
    out: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for r in rows:
        out[r["student_id"]].append((r["assignment_id"], r["occurred_at"]))
    return out


async def works_waiting_since(
    conn: asyncpg.Connection | asyncpg.Pool, camp_id: str, before: datetime, limit: int
) -> list[asyncpg.Record]:
    """Works handed in before `before` and not reviewed yet, oldest first, with the author's
    name (the teachers' robot lists them)."""
    return list(
        await conn.fetch(
            "SELECT w.submission_id, w.student_id, w.title, w.occurred_at, e.display_name"
            " FROM works w LEFT JOIN enrollments e"
            "   ON e.camp_id = w.camp_id AND e.student_id = w.student_id"
            " WHERE w.camp_id = $1 AND w.first_review_at IS NULL AND w.tier IS NOT NULL"
            " AND w.occurred_at <= $2 ORDER BY w.occurred_at, w.submission_id LIMIT $3",
            camp_id,
            before,
            limit,
        )
    )


async def win_digest(conn: asyncpg.Connection | asyncpg.Pool, camp_id: str, period: int) -> bool:
    """True for the one replica that posts this camp's digest of this period."""
    won = await conn.fetchval(
        "INSERT INTO teacher_digests (camp_id, period) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        camp_id,
        period,
    )
    return won is not None
