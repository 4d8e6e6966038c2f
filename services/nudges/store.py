"""Every SQL statement of the nudges service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from shared import camps as shared_camps
from shared.db import json_rows, pair_columns, students_rows
from shared.events import (
    Assignment,
    Camp,
    CheckIn,
    Enrollment,
    Preference,
    Review,
    Submission,
    latest_by,
)
from shared.leave import leave_days_of

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CampRow:
    camp_id: str
    title: str
    starts_on: date
    days: int
    timezone: str
    cohort_time: str
    assignments: tuple[Assignment, ...] = ()


@dataclass(frozen=True, slots=True)
class NewNudge:
    kind: str
    camp_id: str
    student_id: str
    day: int
    cause: str
    due_at: datetime
    context: dict[str, Any]


async def save_camps(conn: asyncpg.Connection, camps: Sequence[Camp]) -> None:
    await shared_camps.save_camps(
        conn,
        camps,
        "INSERT INTO camps SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::int[],"
        " $5::text[], $6::text[], $7::timestamptz[], $8::jsonb[]) ON CONFLICT (camp_id) DO UPDATE"
        " SET title = excluded.title, starts_on = excluded.starts_on, days = excluded.days,"
        " timezone = excluded.timezone, cohort_time = excluded.cohort_time,"
        " occurred_at = excluded.occurred_at, assignments = excluded.assignments"
        " WHERE camps.occurred_at < excluded.occurred_at",
        (
            "camp_id",
            "title",
            "starts_on",
            "days",
            "timezone",
            "cohort_time",
            "occurred_at",
            "assignments",
        ),
    )


async def save_enrollments(conn: asyncpg.Connection, enrollments: Sequence[Enrollment]) -> None:
    rows = latest_by(enrollments, lambda e: (e.camp_id, e.student_id))
    if rows:
        await conn.execute(
            "INSERT INTO enrollments SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::timestamptz[]) ON CONFLICT (camp_id, student_id) DO UPDATE SET"
            " display_name = excluded.display_name, occurred_at = excluded.occurred_at"
            " WHERE enrollments.occurred_at < excluded.occurred_at",
            [e.camp_id for e in rows],
            [e.student_id for e in rows],
            [e.display_name for e in rows],
            [e.occurred_at for e in rows],
        )


async def save_preferences(conn: asyncpg.Connection, prefs: Sequence[Preference]) -> None:
    rows = latest_by(prefs, lambda p: (p.camp_id, p.student_id))
    if rows:
        await conn.execute(
            "INSERT INTO preferences SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::bool[], $5::timestamptz[]) ON CONFLICT (camp_id, student_id) DO UPDATE SET"
            " reminder_time = excluded.reminder_time, opt_out = excluded.opt_out,"
            " occurred_at = excluded.occurred_at"
            " WHERE preferences.occurred_at < excluded.occurred_at",
            [p.camp_id for p in rows],
            [p.student_id for p in rows],
            [p.reminder_time for p in rows],
            [p.opt_out for p in rows],
            [p.occurred_at for p in rows],
        )


async def save_checkins(
    conn: asyncpg.Connection, checkins: Sequence[CheckIn]
) -> set[tuple[str, str, int]]:
    """Record check-in days (the earliest report of a day wins, whatever the arrival order);
    return the days new here or reported earlier than known."""
    earliest: dict[tuple[str, str, int], CheckIn] = {}
    for c in checkins:
        key = (c.camp_id, c.student_id, c.day)
        if key not in earliest or c.occurred_at < earliest[key].occurred_at:
            earliest[key] = c
    if not earliest:
        return set()
    rows = await conn.fetch(
        "INSERT INTO checkins SELECT r->>0, r->>1, (r->>2)::int, (r->>3)::timestamptz"
        " FROM jsonb_array_elements($1::jsonb) AS u(r)"
        " ON CONFLICT (camp_id, student_id, day) DO UPDATE"
        " SET occurred_at = excluded.occurred_at"
        " WHERE excluded.occurred_at < checkins.occurred_at"
        " RETURNING camp_id, student_id, day",
        json_rows((*k, earliest[k].occurred_at) for k in sorted(earliest)),
    )
    return {(r["camp_id"], r["student_id"], r["day"]) for r in rows}


async def save_reviews(conn: asyncpg.Connection, reviews: Sequence[Review]) -> None:
    """Reviews, kept so that praise can be proposed once their camp is known (the table's
    name is from when only excellent reviews were praised)."""
    best: dict[tuple[str, str], Review] = {}
    for r in reviews:  # one per work: an excellent review, else the first
        known = best.get((r.camp_id, r.submission_id))
        if known is None or (r.excellent, known.occurred_at) > (known.excellent, r.occurred_at):
            best[(r.camp_id, r.submission_id)] = r
    rows = [best[k] for k in sorted(best)]
    if rows:
        await conn.execute(
            "INSERT INTO excellent_reviews (camp_id, student_id, submission_id, score,"
            " occurred_at, excellent) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::int[], $5::timestamptz[], $6::bool[]) ON CONFLICT (camp_id, submission_id)"
            " DO UPDATE SET score = excluded.score, occurred_at = excluded.occurred_at,"
            " excellent = true WHERE excluded.excellent AND NOT excellent_reviews.excellent",
            [r.camp_id for r in rows],
            [r.student_id for r in rows],
            [r.submission_id for r in rows],
            [r.score for r in rows],
            [r.occurred_at for r in rows],
            [r.excellent for r in rows],
        )


@dataclass(frozen=True, slots=True)
class ExcellentWork:
    """A reviewed work (excellent, or any when every reviewed work is praised)."""

    camp_id: str
    student_id: str
    submission_id: str
    score: int
    reviewed_at: datetime
    excellent: bool = True

    @classmethod
    def of(cls, r: Review) -> ExcellentWork:
        return cls(r.camp_id, r.student_id, r.submission_id, r.score, r.occurred_at, r.excellent)


async def waiting_for_camp(
    conn: asyncpg.Connection, camp_id: str
) -> tuple[list[str], list[ExcellentWork]]:
    """What arrived for a camp before it: the students with check-ins, the excellent
    reviews."""
    students = await conn.fetch(
        "SELECT DISTINCT student_id FROM checkins WHERE camp_id = $1 ORDER BY 1", camp_id
    )
    reviews = await conn.fetch(
        "SELECT student_id, submission_id, score, occurred_at, excellent FROM excellent_reviews"
        " WHERE camp_id = $1 ORDER BY submission_id",
        camp_id,
    )
    return [r[0] for r in students], [
        ExcellentWork(
            camp_id,
            r["student_id"],
            r["submission_id"],
            r["score"],
            r["occurred_at"],
            r["excellent"],
        )
        for r in reviews
    ]


async def save_works(conn: asyncpg.Connection, submissions: Sequence[Submission]) -> None:
    rows = latest_by(submissions, lambda s: (s.camp_id, s.submission_id))
    if rows:
        await conn.execute(
            "INSERT INTO works (camp_id, student_id, submission_id, title, occurred_at,"
            " assignment_id, tier) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::text[], $5::timestamptz[], $6::text[], $7::text[]) ON CONFLICT DO NOTHING",
            [s.camp_id for s in rows],
            [s.student_id for s in rows],
            [s.submission_id for s in rows],
            [s.title for s in rows],
            [s.occurred_at for s in rows],
            [s.assignment_id for s in rows],
            [s.tier for s in rows],
        )


def _camp(r: asyncpg.Record) -> CampRow:
    return CampRow(
        r["camp_id"],
        r["title"],
        r["starts_on"],
        r["days"],
        r["timezone"],
        r["cohort_time"],
        shared_camps.assignments_of(r["assignments"]),
    )


async def load_camps(
    conn: asyncpg.Connection | asyncpg.Pool, ids: set[str] | None = None
) -> dict[str, CampRow]:
    rows = await conn.fetch(
        "SELECT * FROM camps WHERE $1::text[] IS NULL OR camp_id = ANY($1::text[])",
        None if ids is None else list(ids),
    )
    return {r["camp_id"]: _camp(r) for r in rows}


# Rows of one shape (kind, camp, student, numbers, reported, segment), NULL where a kind has
# none: a student's days and what is counted with them, in one round trip instead of three.
_DAYS = (
    "SELECT 'days', p.c, p.s, a.days, a.reported, NULL FROM unnest($1::text[], $2::text[])"
    " AS p(c, s) CROSS JOIN LATERAL (SELECT array_agg(t.day) AS days,"
    "   array_agg((extract(epoch FROM t.occurred_at) * 1000000)::int8) AS reported"
    "   FROM checkins t WHERE t.camp_id = p.c AND t.student_id = p.s) AS a"
    " WHERE a.days IS NOT NULL"
)
_LEAVES = (
    " UNION ALL SELECT 'leave', t.camp_id, t.student_id, ARRAY[t.from_day, t.to_day], NULL,"
    f" NULL FROM {students_rows('leaves')}"
)
_SEGMENTS = (
    " UNION ALL SELECT 'segment', t.camp_id, t.student_id, ARRAY[t.day], NULL, t.segment"
    f" FROM {students_rows('segments')}"
)


@dataclass(frozen=True, slots=True)
class Calendars:
    """Some students' checked-in days, each with when it was reported (microseconds since the
    epoch, `shared.camp_days.micros`); their days of leave (those with leave); and their
    stored segment (day, segment), where read."""

    days: dict[Pair, dict[int, int]]
    leaves: dict[Pair, frozenset[int]]
    segments: dict[Pair, tuple[int, str]]


async def calendars(
    conn: asyncpg.Connection,
    pairs: Sequence[Pair],
    leave_cap: int | None,
    with_leaves: bool = True,
    with_segments: bool = False,
) -> Calendars:
    """These students' `Calendars`, in one statement. Days come one row per student, days
    and times as two aligned arrays, not a row and a datetime per check-in."""
    camps, students = pair_columns(pairs)
    sql = _DAYS + (_LEAVES if with_leaves else "") + (_SEGMENTS if with_segments else "")
    days: dict[Pair, dict[int, int]] = {}
    spans: list[tuple[Pair, int, int]] = []
    segments: dict[Pair, tuple[int, str]] = {}
    for kind, c, s, numbers, reported, segment in await conn.fetch(sql, camps, students):
        if kind == "days":
            days[(c, s)] = dict(zip(numbers, reported, strict=True))
        elif kind == "leave":
            spans.append(((c, s), numbers[0], numbers[1]))
        else:
            segments[(c, s)] = (numbers[0], segment)
    return Calendars(days, leave_days_of(spans, leave_cap), segments)


async def days_of(conn: asyncpg.Connection, pairs: Sequence[Pair]) -> dict[Pair, dict[int, int]]:
    """`calendars`' days alone."""
    return (await calendars(conn, pairs, None, with_leaves=False)).days


async def set_segments(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, int, str]]) -> None:
    if rows:
        await conn.execute(
            "INSERT INTO segments SELECT r->>0, r->>1, (r->>2)::int, r->>3"
            " FROM jsonb_array_elements($1::jsonb) AS u(r)"
            " ON CONFLICT (camp_id, student_id) DO UPDATE SET day = excluded.day,"
            " segment = excluded.segment",
            json_rows(sorted(rows)),
        )


async def enrolled(conn: asyncpg.Connection, camp_id: str) -> list[str]:
    rows = await conn.fetch("SELECT student_id FROM enrollments WHERE camp_id = $1", camp_id)
    return sorted(r["student_id"] for r in rows)


@dataclass(frozen=True, slots=True)
class StudentRow:
    display_name: str | None
    reminder_time: str | None
    opt_out: bool


async def students(conn: asyncpg.Connection, pairs: Sequence[Pair]) -> dict[Pair, StudentRow]:
    """Names and preferences; a student without an enrollment has display_name None."""
    camps, students_ = pair_columns(pairs)
    rows = await conn.fetch(
        "SELECT p.c AS camp_id, p.s AS student_id, e.display_name, f.reminder_time, f.opt_out"
        " FROM unnest($1::text[], $2::text[]) AS p(c, s)"
        " LEFT JOIN enrollments e ON e.camp_id = p.c AND e.student_id = p.s"
        " LEFT JOIN preferences f ON f.camp_id = p.c AND f.student_id = p.s",
        camps,
        students_,
    )
    return {
        (r["camp_id"], r["student_id"]): StudentRow(
            r["display_name"], r["reminder_time"], bool(r["opt_out"])
        )
        for r in rows
    }


async def last_works(conn: asyncpg.Connection, pairs: Sequence[Pair]) -> dict[Pair, str]:
    camps, students_ = pair_columns(pairs)
    rows = await conn.fetch(
        "SELECT DISTINCT ON (t.camp_id, t.student_id) t.camp_id, t.student_id, t.title"
        f" FROM {students_rows('works')} ORDER BY t.camp_id, t.student_id, t.occurred_at DESC",
        camps,
        students_,
    )
    return {(r["camp_id"], r["student_id"]): r["title"] for r in rows}


async def work_times(conn: asyncpg.Connection, pairs: Sequence[Pair]) -> dict[Pair, list[datetime]]:
    """When each of these students handed in each of their works."""
    camps, students_ = pair_columns(pairs)
    rows = await conn.fetch(
        f"SELECT t.camp_id, t.student_id, t.occurred_at FROM {students_rows('works')}",
        camps,
        students_,
    )
    out: dict[Pair, list[datetime]] = {}
    for r in rows:
        out.setdefault((r["camp_id"], r["student_id"]), []).append(r["occurred_at"])
    return out


async def work_time(conn: asyncpg.Connection, camp_id: str, submission_id: str) -> datetime | None:
    value = await conn.fetchval(
        "SELECT occurred_at FROM works WHERE camp_id = $1 AND submission_id = $2",
        camp_id,
        submission_id,
    )
    return value if isinstance(value, datetime) else None


async def work_title(conn: asyncpg.Connection, camp_id: str, submission_id: str) -> str | None:
    value = await conn.fetchval(
        "SELECT title FROM works WHERE camp_id = $1 AND submission_id = $2", camp_id, submission_id
    )
    return str(value) if value is not None else None


async def segment_sizes(pool: asyncpg.Pool) -> list[tuple[str, str, int]]:
    rows = await pool.fetch(
        "SELECT camp_id, segment, count(*) AS n FROM segments GROUP BY camp_id, segment"
    )
    return [(r["camp_id"], r["segment"], r["n"]) for r in rows]
