"""The points service's SQL statements, but the ledger's writes (services.points.ledger)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from services.points.rules import CampInfo, RedemptionDecision
from shared import camps as shared_camps
from shared.db import json_rows, students_rows
from shared.events import Camp, Enrollment

Pair = tuple[str, str]


async def balance(pool: asyncpg.Pool, camp_id: str, student_id: str) -> int:
    value = await pool.fetchval(
        "SELECT balance FROM balances WHERE camp_id = $1 AND student_id = $2", camp_id, student_id
    )
    return int(value or 0)


async def history(
    pool: asyncpg.Pool, student_id: str, camp_id: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """The student's ledger, oldest first, optionally for one camp."""
    rows = await pool.fetch(
        "SELECT id, camp_id, student_id, rule_id, cause, delta, balance_after, source_event_id,"
        " rules_version, occurred_at, recorded_at FROM ledger"
        " WHERE student_id = $1 AND ($2::text IS NULL OR camp_id = $2) ORDER BY id LIMIT $3",
        student_id,
        camp_id,
        limit,
    )
    return [dict(r) for r in rows]


async def save_students(conn: asyncpg.Connection, enrollments: Sequence[Enrollment]) -> None:
    """Keep each student's latest display name (by occurred_at), for the leaderboards."""
    if not enrollments:
        return
    await conn.execute(
        "INSERT INTO students (camp_id, student_id, display_name, enrolled_at)"
        " SELECT DISTINCT ON (c, s) c, s, n, t"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(c, s, n, t)"
        " ORDER BY c, s, t DESC"
        " ON CONFLICT (camp_id, student_id) DO UPDATE SET display_name = excluded.display_name,"
        " enrolled_at = excluded.enrolled_at WHERE students.enrolled_at < excluded.enrolled_at",
        [e.camp_id for e in enrollments],
        [e.student_id for e in enrollments],
        [e.display_name for e in enrollments],
        [e.occurred_at for e in enrollments],
    )


async def save_camps(conn: asyncpg.Connection, camps: Sequence[Camp]) -> None:
    await shared_camps.save_camps(
        conn,
        camps,
        "INSERT INTO camps (camp_id, starts_on, days, timezone, occurred_at)"
        " SELECT * FROM unnest($1::text[], $2::date[], $3::int[], $4::text[], $5::timestamptz[])"
        " ON CONFLICT (camp_id) DO UPDATE SET starts_on = excluded.starts_on,"
        " days = excluded.days, timezone = excluded.timezone, occurred_at = excluded.occurred_at"
        " WHERE camps.occurred_at < excluded.occurred_at",
        ("camp_id", "starts_on", "days", "timezone", "occurred_at"),
    )


async def load_camps(conn: asyncpg.Connection, camp_ids: set[str]) -> dict[str, CampInfo]:
    if not camp_ids:
        return {}
    rows = await conn.fetch(
        "SELECT camp_id, starts_on, days, timezone FROM camps WHERE camp_id = ANY($1::text[])",
        list(camp_ids),
    )
    return {r["camp_id"]: CampInfo(**dict(r)) for r in rows}


class Calendar(NamedTuple):
    """A student's checked-in days of a camp after a batch, and as they stood before it."""

    days: set[int]
    days_before: list[int]
    streak_rules_before: str | None  # None: no row, or one written before streaks were noted
    leave_spans: list[tuple[int, int]]  # (from_day, to_day) of each leave reported


async def record_checkin_days(
    conn: asyncpg.Connection,
    days: Sequence[tuple[str, str, int]],
    streak_rules: dict[str, str],
) -> dict[tuple[str, str], Calendar]:
    """Add (camp, student, day) facts to the students' calendars, noting each camp's streak
    fingerprint (`streak_rules`), and return those students' calendars after and before,
    with their leaves (read here rather than by a statement of their own: a round trip less
    per batch). A day already there stays once.

    "Before" is read in the statement's snapshot: a racing writer's days may be missing
    from it, which only makes the caller propose more milestones (the ledger refuses
    repeats); its fingerprint goes with the days it read."""
    if not days:
        return {}
    new: dict[tuple[str, str], set[int]] = defaultdict(set)
    for camp_id, student_id, day in days:
        new[(camp_id, student_id)].add(day)
    rows = await conn.fetch(
        "WITH k AS (SELECT r->>0 AS camp_id, r->>1 AS student_id, (r->>2)::int[] AS days,"
        "   r->>3 AS streak_rules FROM jsonb_array_elements($1::jsonb) AS u(r)),"
        " old AS (SELECT c.* FROM k CROSS JOIN LATERAL (SELECT camp_id, student_id, days,"
        "   streak_rules FROM checkin_calendar c WHERE c.camp_id = k.camp_id"
        "   AND c.student_id = k.student_id LIMIT 1) AS c),"  # an index probe each, as above
        " new AS (INSERT INTO checkin_calendar AS c (camp_id, student_id, days, streak_rules)"
        "   SELECT * FROM k ORDER BY 1, 2"  # locks in key order
        # Days mostly come after the last one kept: then they are appended as they are (both
        # sides sorted, each day once), sparing a sort per student.
        "   ON CONFLICT (camp_id, student_id) DO UPDATE SET days = CASE"
        "     WHEN c.days[cardinality(c.days)] < EXCLUDED.days[1] THEN c.days || EXCLUDED.days"
        "     ELSE ARRAY(SELECT DISTINCT d FROM unnest(c.days || EXCLUDED.days) AS d ORDER BY d)"
        "   END,"
        "   streak_rules = EXCLUDED.streak_rules"
        "   RETURNING camp_id, student_id, days)"
        # each side scanned once (a join of the two was planned as a loop over both)
        " SELECT 'after' AS kind, camp_id, student_id, days, NULL AS streak_rules FROM new"
        " UNION ALL SELECT 'before', camp_id, student_id, days, streak_rules FROM old"
        " UNION ALL SELECT 'leave', l.camp_id, l.student_id, ARRAY[l.from_day, l.to_day], NULL"
        " FROM k CROSS JOIN LATERAL (SELECT * FROM leaves l WHERE l.camp_id = k.camp_id"
        # OFFSET 0 keeps the subquery a probe per student, not a join reading every leave
        "   AND l.student_id = k.student_id OFFSET 0) AS l",
        json_rows(
            (c, s, "{" + ",".join(map(str, sorted(d))) + "}", streak_rules[c])
            for (c, s), d in sorted(new.items())
        ),
    )
    before: dict[Pair, asyncpg.Record] = {}
    leaves: dict[Pair, list[tuple[int, int]]] = defaultdict(list)
    for r in rows:
        if r["kind"] == "before":
            before[(r["camp_id"], r["student_id"])] = r
        elif r["kind"] == "leave":
            leaves[(r["camp_id"], r["student_id"])].append((r["days"][0], r["days"][1]))
    calendars = {}
    for r in rows:
        if r["kind"] == "after":
            key = (r["camp_id"], r["student_id"])
            old_row = before.get(key)
            calendars[key] = Calendar(
                set(r["days"]),
                old_row["days"] if old_row else [],
                old_row["streak_rules"] if old_row else None,
                leaves.get(key, []),
            )
    return calendars


PAID_SHARES = students_rows("ledger", " AND t.rule_id = 'share'")


async def calendar_days(conn: asyncpg.Connection, pairs: Sequence[Pair]) -> dict[Pair, list[int]]:
    """The checked-in days of these students' calendars."""
    ordered = sorted(set(pairs))
    rows = await conn.fetch(
        f"SELECT t.camp_id, t.student_id, t.days FROM {students_rows('checkin_calendar')}",
        [p[0] for p in ordered],
        [p[1] for p in ordered],
    )
    return {(r["camp_id"], r["student_id"]): list(r["days"]) for r in rows}


async def share_state(
    conn: asyncpg.Connection, pairs: set[tuple[str, str]]
) -> tuple[set[tuple[str, str, str]], dict[tuple[str, str, int], int]]:
    """Shares already paid to these students, and share points paid per camp day."""
    ordered = sorted(pairs)
    rows = await conn.fetch(
        f"SELECT t.camp_id, t.student_id, t.cause, t.camp_day, t.delta FROM {PAID_SHARES}",
        [p[0] for p in ordered],
        [p[1] for p in ordered],
    )
    paid = {(r["camp_id"], r["student_id"], r["cause"]) for r in rows}
    per_day: dict[tuple[str, str, int], int] = defaultdict(int)
    for r in rows:
        per_day[(r["camp_id"], r["student_id"], r["camp_day"])] += r["delta"]
    return paid, dict(per_day)


async def undecided_requests(
    conn: asyncpg.Connection, keys: list[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which (camp, request_id) have not been decided yet."""
    rows = await conn.fetch(
        "SELECT camp_id, request_id FROM redemptions"
        " JOIN unnest($1::text[], $2::text[]) AS k(c, r) ON camp_id = k.c AND request_id = k.r",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return set(keys) - {(r["camp_id"], r["request_id"]) for r in rows}


async def lock_balances(
    conn: asyncpg.Connection, pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Current balances, locked until commit (in key order) so that no racing replica can
    spend the same points; the advisory locks also cover students without a balance row."""
    ordered = sorted(pairs)
    await conn.execute(
        "SELECT pg_advisory_xact_lock(k) FROM (SELECT hashtextextended(c || '/' || s, 7) AS k"
        " FROM unnest($1::text[], $2::text[]) AS p(c, s) ORDER BY k) AS ordered_keys",
        [p[0] for p in ordered],
        [p[1] for p in ordered],
    )
    rows = await conn.fetch(
        "SELECT b.camp_id, b.student_id, b.balance FROM balances b"
        " JOIN unnest($1::text[], $2::text[]) AS p(c, s) ON b.camp_id = p.c AND b.student_id = p.s"
        " ORDER BY b.camp_id, b.student_id FOR UPDATE OF b",
        [p[0] for p in ordered],
        [p[1] for p in ordered],
    )
    return {(r["camp_id"], r["student_id"]): r["balance"] for r in rows}


async def save_decisions(conn: asyncpg.Connection, decisions: Sequence[RedemptionDecision]) -> None:
    if not decisions:
        return
    reqs = [d.request for d in decisions]
    await conn.execute(
        "INSERT INTO redemptions (camp_id, request_id, student_id, item_id, cost, status, reason,"
        " event_id, requested_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::text[], $5::int[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])"
        " ON CONFLICT DO NOTHING",
        [r.camp_id for r in reqs],
        [r.request_id for r in reqs],
        [r.student_id for r in reqs],
        [r.item_id for r in reqs],
        [r.cost for r in reqs],
        ["accepted" if d.accepted else "rejected" for d in decisions],
        [d.reason for d in decisions],
        [r.event_id for r in reqs],
        [r.occurred_at for r in reqs],
    )


ACCEPTED_REDEMPTIONS = students_rows("redemptions", " AND t.status = 'accepted'")


async def freezes_bought(
    conn: asyncpg.Connection | asyncpg.Pool, pairs: Sequence[Pair], item_ids: dict[str, str]
) -> dict[Pair, list[datetime]]:
    """When each of these students bought a streak freeze (an accepted redemption of their
    camp's freeze item, `item_ids`: camp -> item)."""
    ordered = sorted(p for p in set(pairs) if p[0] in item_ids)
    if not ordered:
        return {}
    rows = await conn.fetch(
        f"SELECT t.camp_id, t.student_id, t.item_id, t.requested_at FROM {ACCEPTED_REDEMPTIONS}",
        [p[0] for p in ordered],
        [p[1] for p in ordered],
    )
    out: dict[Pair, list[datetime]] = {}
    for r in rows:
        if r["requested_at"] is not None and item_ids[r["camp_id"]] == r["item_id"]:
            out.setdefault((r["camp_id"], r["student_id"]), []).append(r["requested_at"])
    return out
