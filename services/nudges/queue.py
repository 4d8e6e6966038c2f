"""The nudges table: scheduling, claiming what came due, recording each decision; the day
rollovers and the lapses welcomed back. The scheduler's SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.nudges.store import NewNudge, Pair
from shared.db import json_rows, pair_columns, students_rows

# The kinds of which a student gets at most one a day (contract, "The learning loop").
DAILY_KINDS = ("reminder", "homework", "streak_saved")
# (id, status, reason, segment, template_id[, the kind sent when not the one scheduled])
Outcome = (
    tuple[int, str, str | None, str | None, str | None]
    | tuple[int, str, str | None, str | None, str | None, str]
)


async def schedule(conn: asyncpg.Connection, nudges: Sequence[NewNudge]) -> int:
    """Add nudges to come due; one already scheduled for the same cause is kept."""
    if not nudges:
        return 0
    result = await conn.execute(
        "INSERT INTO nudges (kind, camp_id, student_id, day, cause, due_at, context)"
        " SELECT r->>0, r->>1, r->>2, (r->>3)::int, r->>4, (r->>5)::timestamptz, r->6"
        " FROM jsonb_array_elements($1::jsonb) AS u(r) ON CONFLICT DO NOTHING",
        json_rows(
            (n.kind, n.camp_id, n.student_id, n.day, n.cause, n.due_at, n.context) for n in nudges
        ),
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
    praise_days: set[int]  # camp days with a praise sent (one a day at most)


SENT_NUDGES = students_rows("nudges", " AND t.status = 'sent'")


async def histories(conn: asyncpg.Connection, pairs: Sequence[Pair]) -> dict[Pair, History]:
    camps, students_ = pair_columns(pairs)
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
    praised: dict[Pair, set[int]] = defaultdict(set)
    for r in rows:
        pair = (r["camp_id"], r["student_id"])
        templates[pair][r["kind"]] = r["template_id"]
        if r["kind"] == "praise":
            praised[pair].add(r["day"])
        if r["kind"] in DAILY_KINDS:
            last_day[pair] = max(last_day.get(pair, 0), r["day"])
            sent_at[pair].append(r["decided_at"])
    return {p: History(last_day.get(p), sent_at[p], templates[p], praised[p]) for p in pairs}


async def finish(
    conn: asyncpg.Connection,
    outcomes: Sequence[Outcome],
    now: datetime,
    rules_version: str,
) -> None:
    """Mark claimed nudges as decided, under the nudge book of this version. A reminder that
    went out as a `homework` nudge is recorded as one."""
    if outcomes:
        await conn.execute(
            "UPDATE nudges n SET status = u.st, reason = u.r, segment = u.sg,"
            " template_id = u.t, decided_at = $6, rules_version = $7,"
            " kind = coalesce(u.k, n.kind)"
            " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],"
            " $8::text[]) AS u(id, st, r, sg, t, k) WHERE n.id = u.id",
            [o[0] for o in outcomes],
            [o[1] for o in outcomes],
            [o[2] for o in outcomes],
            [o[3] for o in outcomes],
            [o[4] for o in outcomes],
            now,
            rules_version,
            [o[5] if len(o) > 5 else None for o in outcomes],
        )


async def measure(pool: asyncpg.Pool, now: datetime) -> list[asyncpg.Record]:
    """Mark the reminders and homework nudges sent or held out 24 hours ago as measured; each
    with whether a check-in followed within those 24 hours. A row is measured once, whatever
    the number of replicas."""
    return list(
        await pool.fetch(
            "UPDATE nudges n SET measured = true WHERE n.kind IN ('reminder', 'homework')"
            " AND (n.status = 'sent' OR n.reason = 'holdout') AND NOT n.measured"
            " AND n.decided_at <= $1::timestamptz - interval '24 hours'"
            " RETURNING n.status, n.kind, n.segment, n.template_id, EXISTS (SELECT 1"
            "   FROM checkins c WHERE c.camp_id = n.camp_id AND c.student_id = n.student_id"
            "   AND c.occurred_at > n.decided_at"
            "   AND c.occurred_at <= n.decided_at + interval '24 hours') AS followed",
            now,
        )
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


async def nudges_of(pool: asyncpg.Pool, camp_id: str, student_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT kind, day, cause, due_at, status, reason, segment, template_id, decided_at"
        " FROM nudges WHERE camp_id = $1 AND student_id = $2 ORDER BY due_at, id",
        camp_id,
        student_id,
    )
    return [dict(r) for r in rows]
