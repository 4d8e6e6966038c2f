"""Every SQL statement of the badges service."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.badges.rules import CampFacts, StudentFacts, watch_ratio
from shared import camps as shared_camps
from shared import topics
from shared.db import Writes, json_rows, pair_columns, students_rows
from shared.events import Answer, Camp, CheckIn, LessonProgress, Question, Review, Submission
from shared.leave import leave_days_of
from shared.outbox import ROW_EVENTS

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class NewAward:
    camp_id: str
    student_id: str
    badge_id: str
    source_event_id: str
    awarded_at: datetime


async def save_camps(conn: asyncpg.Connection, camps: Sequence[Camp]) -> None:
    await shared_camps.save_camps(
        conn,
        camps,
        "INSERT INTO camps (camp_id, days, lessons, occurred_at, starts_on, timezone,"
        " assignments) SELECT * FROM unnest($1::text[], $2::int[], $3::int[],"
        " $4::timestamptz[], $5::date[], $6::text[], $7::jsonb[])"
        " ON CONFLICT (camp_id) DO UPDATE SET days = excluded.days, lessons = excluded.lessons,"
        " occurred_at = excluded.occurred_at, starts_on = excluded.starts_on,"
        " timezone = excluded.timezone, assignments = excluded.assignments"
        " WHERE camps.occurred_at < excluded.occurred_at",
        ("camp_id", "days", "lessons", "occurred_at", "starts_on", "timezone", "assignments"),
    )


def add_facts(
    writes: Writes,
    checkins: Sequence[CheckIn],
    lessons: Sequence[LessonProgress],
    reviews: Sequence[Review],
) -> None:
    """Record what happened; every statement is idempotent and order-free, and writes a
    table of its own (they go to PostgreSQL together)."""
    if checkins:
        days: dict[Pair, set[int]] = defaultdict(set)
        for c in checkins:
            days[(c.camp_id, c.student_id)].add(c.day)
        writes.add(
            "INSERT INTO checkin_calendar AS c (camp_id, student_id, days)"
            " SELECT r->>0, r->>1, ARRAY(SELECT jsonb_array_elements_text(r->2)::int)"
            " FROM jsonb_array_elements($1::jsonb) AS u(r) ORDER BY 1, 2"  # locks in key order
            " ON CONFLICT (camp_id, student_id) DO UPDATE SET days = ARRAY("
            "   SELECT DISTINCT d FROM unnest(c.days || EXCLUDED.days) AS d ORDER BY d)"
            " WHERE NOT EXCLUDED.days <@ c.days",
            json_rows((c, s, sorted(d)) for (c, s), d in sorted(days.items())),
        )
    if lessons:
        best: dict[tuple[str, str, str], float] = {}
        for lp in lessons:
            key = (lp.camp_id, lp.student_id, lp.lesson_id)
            best[key] = max(
                best.get(key, 0.0), watch_ratio(lp.watched_seconds, lp.duration_seconds)
            )
        keys = sorted(best)
        writes.add(
            "INSERT INTO lesson_progress SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::float8[]) ON CONFLICT (camp_id, student_id, lesson_id) DO UPDATE"
            " SET best_ratio = GREATEST(lesson_progress.best_ratio, excluded.best_ratio)",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [best[k] for k in keys],
        )
    excellent = [r for r in reviews if r.excellent]
    if excellent:
        writes.add(
            "INSERT INTO excellent_works SELECT * FROM unnest($1::text[], $2::text[],"
            " $3::text[], $4::int[], $5::text[]) ON CONFLICT DO NOTHING",
            [r.camp_id for r in excellent],
            [r.student_id for r in excellent],
            [r.submission_id for r in excellent],
            [r.score for r in excellent],
            [r.event_id for r in excellent],
        )


_ASKED = (
    "INSERT INTO questions_asked SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
    " ON CONFLICT DO NOTHING"
)
_GIVEN = (
    "INSERT INTO answers_given SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
    " ON CONFLICT DO NOTHING"
)


def add_loop_facts(
    writes: Writes,
    submissions: Sequence[Submission],
    questions: Sequence[Question],
    student_answers: Sequence[Answer],
) -> None:
    """Hand-ins (the first of each assignment wins), questions asked and answers given to
    others; idempotent and order-free like `add_facts`."""
    first: dict[tuple[str, str, str], datetime] = {}
    for sub in submissions:
        key = (sub.camp_id, sub.student_id, sub.assignment_id)
        first[key] = min(first.get(key, sub.occurred_at), sub.occurred_at)
    if first:
        keys = sorted(first)
        writes.add(
            "INSERT INTO handed_in SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::timestamptz[]) ON CONFLICT (camp_id, student_id, assignment_id) DO UPDATE"
            " SET first_at = excluded.first_at WHERE excluded.first_at < handed_in.first_at",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [first[k] for k in keys],
        )
    asked = sorted({(q.camp_id, q.student_id, q.question_id) for q in questions})
    given = sorted({(a.camp_id, a.answerer_id, a.question_id) for a in student_answers})
    for statement, rows in ((_ASKED, asked), (_GIVEN, given)):
        if rows:
            writes.add(statement, *([r[i] for r in rows] for i in range(3)))


async def students_of(conn: asyncpg.Connection, camp_ids: set[str]) -> list[Pair]:
    rows = await conn.fetch(
        "SELECT camp_id, student_id FROM students WHERE camp_id = ANY($1::text[])", list(camp_ids)
    )
    return [(r["camp_id"], r["student_id"]) for r in rows]


ALL_FACTS = frozenset(
    {"days", "leave", "excellent", "lesson_ratios", "handed_in", "questions_answers"}
)


@dataclass(frozen=True, slots=True)
class Students:
    """What the badges of some students are judged on."""

    facts: dict[Pair, StudentFacts]
    held: dict[Pair, set[str]]  # the badges each holds
    camps: dict[str, CampFacts]  # their camps, those known


# Every read a re-evaluation needs, as rows of one shape: kind, camp, student, then k (text),
# x (float8), at (timestamptz), n (int[]), d (date), j (jsonb), NULL where a kind has none.
# One round trip for them all instead of one each (eight for the default badge book), which
# at a trickle was most of a batch's time.
_READS = {
    "days": "SELECT 'days', t.camp_id, t.student_id, NULL, NULL, NULL, t.days, NULL, NULL"
    f" FROM {students_rows('checkin_calendar')}",
    "excellent": "SELECT 'excellent', t.camp_id, t.student_id, t.submission_id, NULL, NULL, NULL,"
    f" NULL, NULL FROM {students_rows('excellent_works')}",
    "lesson_ratios": "SELECT 'lesson_ratios', t.camp_id, t.student_id, t.lesson_id,"
    f" t.best_ratio, NULL, NULL, NULL, NULL FROM {students_rows('lesson_progress')}",
    "handed_in": "SELECT 'handed_in', t.camp_id, t.student_id, t.assignment_id, NULL,"
    f" t.first_at, NULL, NULL, NULL FROM {students_rows('handed_in')}",
    "questions_answers": "SELECT 'questions_answers', p.c, p.s, NULL, NULL, NULL, ARRAY["
    "(SELECT count(*) FROM questions_asked q WHERE q.camp_id = p.c AND q.student_id = p.s),"
    " (SELECT count(*) FROM answers_given a WHERE a.camp_id = p.c AND a.student_id = p.s)"
    "]::int[], NULL, NULL FROM unnest($1::text[], $2::text[]) AS p(c, s)",
    "leave": "SELECT 'leave', t.camp_id, t.student_id, NULL, NULL, NULL,"
    f" ARRAY[t.from_day, t.to_day], NULL, NULL FROM {students_rows('leaves')}",
    "held": "SELECT 'held', t.camp_id, t.student_id, t.badge_id, NULL, NULL, NULL, NULL, NULL"
    f" FROM {students_rows('awards')}",
    "camp": "SELECT 'camp', t.camp_id, NULL, t.timezone, NULL, NULL, ARRAY[t.days, t.lessons],"
    " t.starts_on, t.assignments FROM camps t WHERE t.camp_id = ANY($1::text[])",
}
# Students seen in a camp, so that a late camp definition re-evaluates them: noted by the read
# of a batch's students, a round trip less. The read's snapshot does not see these rows, and
# reads none of the table.
_NOTE = (
    "WITH noted AS (INSERT INTO students SELECT * FROM unnest($3::text[], $4::text[])"
    " ON CONFLICT DO NOTHING) "
)
# No rows, but the columns' types: a UNION resolves its branches pairwise, and a column NULL in
# the first two would be taken as text and then clash with a later branch's type.
_TYPES = (
    "SELECT NULL::text, NULL::text, NULL::text, NULL::text, NULL::float8, NULL::timestamptz,"
    " NULL::int[], NULL::date, NULL::jsonb WHERE false"
)


async def load_students(
    conn: asyncpg.Connection | asyncpg.Pool,
    pairs: Sequence[Pair],
    leave_cap: int | None = None,
    needed: frozenset[str] = ALL_FACTS,
    with_held: bool = True,
    noting: Sequence[Pair] = (),
) -> Students:
    """The facts of these students that `needed` names (rules.facts_needed; the others are
    left empty), the badges they hold (unless not `with_held`) and their camps, in one
    statement, which also notes the students `noting` in their camps."""
    if not pairs:
        return Students({}, {}, {})
    camps, students = pair_columns(pairs)
    kinds = [k for k in _READS if k in needed or k == "camp" or (k == "held" and with_held)]
    sql = " UNION ALL ".join([_TYPES, *(_READS[k] for k in kinds)])
    if noting:
        rows = await conn.fetch(_NOTE + sql, camps, students, *pair_columns(noting))
    else:
        rows = await conn.fetch(sql, camps, students)
    days: dict[Pair, frozenset[int]] = {}
    works: dict[Pair, set[str]] = defaultdict(set)
    ratios: dict[Pair, dict[str, float]] = defaultdict(dict)
    handed: dict[Pair, dict[str, datetime]] = defaultdict(dict)
    counts: dict[Pair, tuple[int, int]] = {}
    spans: list[tuple[Pair, int, int]] = []
    held: dict[Pair, set[str]] = defaultdict(set)
    found: dict[str, CampFacts] = {}
    for kind, c, s, k, x, at, n, d, j in rows:
        if kind == "days":
            days[(c, s)] = frozenset(n)
        elif kind == "excellent":
            works[(c, s)].add(k)
        elif kind == "lesson_ratios":
            ratios[(c, s)][k] = x
        elif kind == "handed_in":
            handed[(c, s)][k] = at
        elif kind == "questions_answers":
            counts[(c, s)] = (n[0], n[1])
        elif kind == "leave":
            spans.append(((c, s), n[0], n[1]))
        elif kind == "held":
            held[(c, s)].add(k)
        else:
            found[c] = CampFacts(c, n[0], n[1], d, k, shared_camps.assignments_of(j))
    leave = leave_days_of(spans, leave_cap)
    facts = {
        p: StudentFacts(
            days.get(p, frozenset()),
            frozenset(works[p]),
            ratios[p],
            handed[p],
            *counts.get(p, (0, 0)),
            leave.get(p, frozenset()),
        )
        for p in pairs
    }
    return Students(facts, held, found)


async def award(
    conn: asyncpg.Connection, awards: Sequence[NewAward], version: str, payloads: Sequence[str]
) -> list[NewAward]:
    """Insert the awards and, for each one not held before, its `gamify.badges` event (the
    JSON in `payloads`, in step with `awards`) into the outbox; return those awards (a racing
    replica's are dropped). One statement for both: at a trickle a round trip costs a batch
    more than the rows it carries (bench/README.md, A round trip)."""
    if not awards:
        return []
    rows = await conn.fetch(
        _AWARD,
        [a.camp_id for a in awards],
        [a.student_id for a in awards],
        [a.badge_id for a in awards],
        [a.source_event_id for a in awards],
        version,
        [a.awarded_at for a in awards],
        list(payloads),
        topics.BADGES,
        ROW_EVENTS,
    )
    new = {(r["camp_id"], r["student_id"], r["badge_id"]) for r in rows}
    return [a for a in awards if (a.camp_id, a.student_id, a.badge_id) in new]


# The awards, and the new ones' events as outbox rows of up to ROW_EVENTS events (see
# shared.outbox), keyed by student, in the awards' order.
_AWARD = (
    "WITH u AS NOT MATERIALIZED (SELECT c, s, b, e, t, p, n, (n - 1) / $9::int AS row_of"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $6::timestamptz[],"
    " $7::text[]) WITH ORDINALITY AS u(c, s, b, e, t, p, n)),"
    " new AS (INSERT INTO awards (camp_id, student_id, badge_id, source_event_id,"
    " definitions_version, awarded_at) SELECT c, s, b, e, $5, t FROM u ORDER BY n"
    " ON CONFLICT DO NOTHING RETURNING camp_id, student_id, badge_id),"
    " events AS (INSERT INTO outbox (topics, keys, payloads)"
    " SELECT array_agg($8::text ORDER BY u.n), array_agg(u.s ORDER BY u.n),"
    " array_agg(u.p ORDER BY u.n) FROM u"
    " JOIN new ON new.camp_id = u.c AND new.student_id = u.s AND new.badge_id = u.b"
    " GROUP BY u.row_of ORDER BY u.row_of)"
    " SELECT camp_id, student_id, badge_id FROM new"
)


async def awards_of(pool: asyncpg.Pool, camp_id: str, student_id: str) -> dict[str, dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT badge_id, source_event_id, definitions_version, awarded_at FROM awards"
        " WHERE camp_id = $1 AND student_id = $2",
        camp_id,
        student_id,
    )
    return {r["badge_id"]: dict(r) for r in rows}


async def holders_per_badge(pool: asyncpg.Pool, camp_id: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT badge_id, count(*) AS n FROM awards WHERE camp_id = $1 GROUP BY badge_id", camp_id
    )
    return {r["badge_id"]: r["n"] for r in rows}


async def seed_students(pool: asyncpg.Pool, camp_id: str, badge_id: str) -> list[dict[str, Any]]:
    """Holders of the seed badge with their evidence: excellent works, checked-in days, and
    their part in the Q&A corner (questions asked, answers given to others)."""
    rows = await pool.fetch(
        "SELECT a.student_id, a.awarded_at,"
        " coalesce((SELECT cardinality(d.days) FROM checkin_calendar d"
        "   WHERE d.camp_id = a.camp_id AND d.student_id = a.student_id), 0) AS checkin_days,"
        " (SELECT coalesce(json_agg(json_build_object('submission_id', w.submission_id,"
        "   'score', w.score) ORDER BY w.score DESC, w.submission_id), '[]')"
        "   FROM excellent_works w WHERE w.camp_id = a.camp_id AND w.student_id = a.student_id)"
        "   AS excellent_works,"
        " (SELECT count(*) FROM questions_asked q"
        "   WHERE q.camp_id = a.camp_id AND q.student_id = a.student_id) AS questions_asked,"
        " (SELECT count(*) FROM answers_given g"
        "   WHERE g.camp_id = a.camp_id AND g.student_id = a.student_id) AS answers_given"
        " FROM awards a WHERE a.camp_id = $1 AND a.badge_id = $2"
        " ORDER BY a.awarded_at, a.student_id",
        camp_id,
        badge_id,
    )
    return [dict(r) for r in rows]
