"""Every SQL statement of the nudges service."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import asyncpg

from shared import camps as shared_camps
from shared.db import students_rows
from shared.events import Camp, CheckIn, Enrollment, Event, Preference, Review, Submission

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CampRow:
    camp_id: str
    title: str
    starts_on: date
    days: int
    timezone: str
    cohort_time: str


@dataclass(frozen=True, slots=True)
class NewNudge:
    kind: str
    camp_id: str
    student_id: str
    day: int
    cause: str
    due_at: datetime
    context: dict[str, Any]


E = TypeVar("E", bound=Event)


def _latest(events: Sequence[E], key: Any) -> list[E]:
    """The latest event (by occurred_at) for each key, in key order."""
    latest: dict[Any, E] = {}
    for e in events:
        k = key(e)
        if k not in latest or e.occurred_at > latest[k].occurred_at:
            latest[k] = e
    return [latest[k] for k in sorted(latest)]


def _cols(pairs: Sequence[Pair]) -> tuple[list[str], list[str]]:
    ordered = sorted(pairs)
    return [p[0] for p in ordered], [p[1] for p in ordered]


async def save_camps(conn: asyncpg.Connection, camps: Sequence[Camp]) -> None:
    await shared_camps.save_camps(
        conn,
        camps,
        "INSERT INTO camps SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::int[],"
        " $5::text[], $6::text[], $7::timestamptz[]) ON CONFLICT (camp_id) DO UPDATE SET"
        " title = excluded.title, starts_on = excluded.starts_on, days = excluded.days,"
        " timezone = excluded.timezone, cohort_time = excluded.cohort_time,"
        " occurred_at = excluded.occurred_at WHERE camps.occurred_at < excluded.occurred_at",
        ("camp_id", "title", "starts_on", "days", "timezone", "cohort_time", "occurred_at"),
    )


async def save_enrollments(conn: asyncpg.Connection, enrollments: Sequence[Enrollment]) -> None:
    rows = _latest(enrollments, lambda e: (e.camp_id, e.student_id))
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
    rows = _latest(prefs, lambda p: (p.camp_id, p.student_id))
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
    keys = sorted(earliest)
    rows = await conn.fetch(
        "INSERT INTO checkins SELECT * FROM unnest($1::text[], $2::text[], $3::int[],"
        " $4::timestamptz[]) ON CONFLICT (camp_id, student_id, day) DO UPDATE"
        " SET occurred_at = excluded.occurred_at"
        " WHERE excluded.occurred_at < checkins.occurred_at"
        " RETURNING camp_id, student_id, day",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [earliest[k].occurred_at for k in keys],
    )
    return {(r["camp_id"], r["student_id"], r["day"]) for r in rows}


async def save_excellent_reviews(conn: asyncpg.Connection, reviews: Sequence[Review]) -> None:
    """Excellent reviews, kept so that praise can be proposed once their camp is known."""
    rows = [r for r in reviews if r.excellent]
    if rows:
        await conn.execute(
            "INSERT INTO excellent_reviews SELECT * FROM unnest($1::text[], $2::text[],"
            " $3::text[], $4::int[], $5::timestamptz[]) ON CONFLICT DO NOTHING",
            [r.camp_id for r in rows],
            [r.student_id for r in rows],
            [r.submission_id for r in rows],
            [r.score for r in rows],
            [r.occurred_at for r in rows],
        )


@dataclass(frozen=True, slots=True)
class ExcellentWork:
    camp_id: str
    student_id: str
    submission_id: str
    score: int
    reviewed_at: datetime

    @classmethod
    def of(cls, r: Review) -> ExcellentWork:
        return cls(r.camp_id, r.student_id, r.submission_id, r.score, r.occurred_at)


async def waiting_for_camp(
    conn: asyncpg.Connection, camp_id: str
) -> tuple[list[str], list[ExcellentWork]]:
    """What arrived for a camp before it: the students with check-ins, the excellent
    reviews."""
    students = await conn.fetch(
        "SELECT DISTINCT student_id FROM checkins WHERE camp_id = $1 ORDER BY 1", camp_id
    )
    reviews = await conn.fetch(
        "SELECT student_id, submission_id, score, occurred_at FROM excellent_reviews"
        " WHERE camp_id = $1 ORDER BY submission_id",
        camp_id,
    )
    return [r[0] for r in students], [
        ExcellentWork(camp_id, r["student_id"], r["submission_id"], r["score"], r["occurred_at"])
        for r in reviews
    ]


async def save_works(conn: asyncpg.Connection, submissions: Sequence[Submission]) -> None:
    rows = _latest(submissions, lambda s: (s.camp_id, s.submission_id))
    if rows:
        await conn.execute(
            "INSERT INTO works SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
            " $5::timestamptz[]) ON CONFLICT DO NOTHING",
            [s.camp_id for s in rows],
            [s.student_id for s in rows],
            [s.submission_id for s in rows],
            [s.title for s in rows],
            [s.occurred_at for s in rows],
        )


def _camp(r: asyncpg.Record) -> CampRow:
    return CampRow(
        r["camp_id"], r["title"], r["starts_on"], r["days"], r["timezone"], r["cohort_time"]
    )


async def load_camps(
    conn: asyncpg.Connection | asyncpg.Pool, ids: set[str] | None = None
) -> dict[str, CampRow]:
    rows = await conn.fetch(
        "SELECT * FROM camps WHERE $1::text[] IS NULL OR camp_id = ANY($1::text[])",
        None if ids is None else list(ids),
    )
    return {r["camp_id"]: _camp(r) for r in rows}


async def days_of(conn: asyncpg.Connection, pairs: Sequence[Pair]) -> dict[Pair, dict[int, int]]:
    """Checked-in days of these students, each with when it was reported (microseconds since
    the epoch, `rules.micros`): one row per student, its days and times as two aligned arrays
    (aggregated over the same rows), not a row and a datetime per check-in."""
    camps, students = _cols(pairs)
    rows = await conn.fetch(
        "SELECT p.c, p.s, a.days, a.reported FROM unnest($1::text[], $2::text[]) AS p(c, s)"
        " CROSS JOIN LATERAL (SELECT array_agg(t.day) AS days,"
        "   array_agg((extract(epoch FROM t.occurred_at) * 1000000)::int8) AS reported"
        "   FROM checkins t WHERE t.camp_id = p.c AND t.student_id = p.s) AS a"
        " WHERE a.days IS NOT NULL",
        camps,
        students,
    )
    return {(r[0], r[1]): dict(zip(r[2], r[3], strict=True)) for r in rows}


async def stored_segments(
    conn: asyncpg.Connection, pairs: Sequence[Pair]
) -> dict[Pair, tuple[int, str]]:
    camps, students = _cols(pairs)
    rows = await conn.fetch(
        f"SELECT t.camp_id, t.student_id, t.day, t.segment FROM {students_rows('segments')}",
        camps,
        students,
    )
    return {(r["camp_id"], r["student_id"]): (r["day"], r["segment"]) for r in rows}


async def set_segments(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, int, str]]) -> None:
    if rows:
        ordered = sorted(rows)
        await conn.execute(
            "INSERT INTO segments"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[])"
            " ON CONFLICT (camp_id, student_id) DO UPDATE SET day = excluded.day,"
            " segment = excluded.segment",
            [r[0] for r in ordered],
            [r[1] for r in ordered],
            [r[2] for r in ordered],
            [r[3] for r in ordered],
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
    camps, students_ = _cols(pairs)
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


async def schedule(conn: asyncpg.Connection, nudges: Sequence[NewNudge]) -> int:
    """Add nudges to come due; one already scheduled for the same cause is kept."""
    if not nudges:
        return 0
    result = await conn.execute(
        "INSERT INTO nudges (kind, camp_id, student_id, day, cause, due_at, context)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[],"
        " $6::timestamptz[], $7::jsonb[]) ON CONFLICT DO NOTHING",
        [n.kind for n in nudges],
        [n.camp_id for n in nudges],
        [n.student_id for n in nudges],
        [n.day for n in nudges],
        [n.cause for n in nudges],
        [n.due_at for n in nudges],
        [json.dumps(n.context, ensure_ascii=False) for n in nudges],
    )
    return int(result.split()[-1])


async def reschedule_reminders(
    conn: asyncpg.Connection, moves: Sequence[tuple[str, str, int, datetime]]
) -> None:
    """Move pending reminders (camp, student, day) to a new due time."""
    if moves:
        await conn.execute(
            "UPDATE nudges n SET due_at = u.d FROM unnest($1::text[], $2::text[], $3::int[],"
            " $4::timestamptz[]) AS u(c, s, y, d)"
            " WHERE n.kind = 'reminder' AND n.status = 'pending'"
            " AND n.camp_id = u.c AND n.student_id = u.s AND n.day = u.y",
            [m[0] for m in moves],
            [m[1] for m in moves],
            [m[2] for m in moves],
            [m[3] for m in moves],
        )


async def claim_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Pending nudges due by `now`, locked for this transaction (other replicas skip them)."""
    return list(
        await conn.fetch(
            "SELECT id, kind, camp_id, student_id, day, cause, due_at, context FROM nudges"
            " WHERE status = 'pending' AND due_at <= $1 ORDER BY due_at, id LIMIT $2"
            " FOR UPDATE SKIP LOCKED",
            now,
            limit,
        )
    )


@dataclass(slots=True)
class History:
    """A student's nudge history as the decisions need it."""

    last_reminder_day: int | None
    reminders_sent_at: list[datetime]
    last_template: dict[str, str]  # kind -> template id


SENT_NUDGES = students_rows("nudges", " AND t.status = 'sent'")


async def histories(conn: asyncpg.Connection, pairs: Sequence[Pair]) -> dict[Pair, History]:
    camps, students_ = _cols(pairs)
    rows = await conn.fetch(
        "SELECT t.camp_id, t.student_id, t.kind, t.day, t.template_id, t.decided_at"
        f" FROM {SENT_NUDGES}"
        " ORDER BY t.decided_at, t.id",
        camps,
        students_,
    )
    last_day: dict[Pair, int] = {}
    sent_at: dict[Pair, list[datetime]] = defaultdict(list)
    templates: dict[Pair, dict[str, str]] = defaultdict(dict)
    for r in rows:
        pair = (r["camp_id"], r["student_id"])
        templates[pair][r["kind"]] = r["template_id"]
        if r["kind"] == "reminder":
            last_day[pair] = max(last_day.get(pair, 0), r["day"])
            sent_at[pair].append(r["decided_at"])
    return {p: History(last_day.get(p), sent_at[p], templates[p]) for p in pairs}


async def last_works(conn: asyncpg.Connection, pairs: Sequence[Pair]) -> dict[Pair, str]:
    camps, students_ = _cols(pairs)
    rows = await conn.fetch(
        "SELECT DISTINCT ON (t.camp_id, t.student_id) t.camp_id, t.student_id, t.title"
        f" FROM {students_rows('works')} ORDER BY t.camp_id, t.student_id, t.occurred_at DESC",
        camps,
        students_,
    )
    return {(r["camp_id"], r["student_id"]): r["title"] for r in rows}


async def work_title(conn: asyncpg.Connection, camp_id: str, submission_id: str) -> str | None:
    value = await conn.fetchval(
        "SELECT title FROM works WHERE camp_id = $1 AND submission_id = $2", camp_id, submission_id
    )
    return str(value) if value is not None else None


async def finish(
    conn: asyncpg.Connection,
    outcomes: Sequence[tuple[int, str, str | None, str | None, str | None]],
    now: datetime,
    rules_version: str,
) -> None:
    """Mark claimed nudges (id, status, reason, segment, template_id) as decided, under the
    nudge book of this version."""
    if outcomes:
        await conn.execute(
            "UPDATE nudges n SET status = u.st, reason = u.r, segment = u.sg,"
            " template_id = u.t, decided_at = $6, rules_version = $7"
            " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])"
            " AS u(id, st, r, sg, t) WHERE n.id = u.id",
            [o[0] for o in outcomes],
            [o[1] for o in outcomes],
            [o[2] for o in outcomes],
            [o[3] for o in outcomes],
            [o[4] for o in outcomes],
            now,
            rules_version,
        )


async def win_rollover(conn: asyncpg.Connection, camp_id: str, day: int) -> bool:
    """True for the one replica that gets to process the start of this camp day."""
    won = await conn.fetchval(
        "INSERT INTO rollovers (camp_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        camp_id,
        day,
    )
    return won is not None


async def last_rollovers(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    rows = await conn.fetch("SELECT camp_id, max(day) AS day FROM rollovers GROUP BY camp_id")
    return {r["camp_id"]: r["day"] for r in rows}


async def welcome_lapses(
    conn: asyncpg.Connection, lapses: Sequence[tuple[str, str, str]]
) -> set[tuple[str, str, str]]:
    """The (camp, student, lapse) welcomed back here for the first time."""
    if not lapses:
        return set()
    ordered = sorted(set(lapses))
    rows = await conn.fetch(
        "INSERT INTO lapses SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
        " ON CONFLICT DO NOTHING RETURNING *",
        [r[0] for r in ordered],
        [r[1] for r in ordered],
        [r[2] for r in ordered],
    )
    return {(r[0], r[1], r[2]) for r in rows}


async def segment_sizes(pool: asyncpg.Pool) -> list[tuple[str, str, int]]:
    rows = await pool.fetch(
        "SELECT camp_id, segment, count(*) AS n FROM segments GROUP BY camp_id, segment"
    )
    return [(r["camp_id"], r["segment"], r["n"]) for r in rows]


async def nudges_of(pool: asyncpg.Pool, camp_id: str, student_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT kind, day, cause, due_at, status, reason, segment, template_id, decided_at"
        " FROM nudges WHERE camp_id = $1 AND student_id = $2 ORDER BY due_at, id",
        camp_id,
        student_id,
    )
    return [dict(r) for r in rows]
