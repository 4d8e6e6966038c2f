"""Every SQL statement of the points service."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.points.rules import Award


@dataclass(frozen=True, slots=True)
class Entry:
    """A ledger row as written, with the student's balance right after it."""

    id: int
    camp_id: str
    student_id: str
    rule_id: str
    cause: str
    delta: int
    balance_after: int
    source_event_id: str
    occurred_at: datetime


async def record_awards(
    conn: asyncpg.Connection, awards: Sequence[Award], rules_version: str
) -> list[Entry]:
    """Insert the awards not paid before, move the balances, and return the new entries.

    Three statements whatever the batch size: the ledger's unique cause key drops what was
    already paid; balances move by each student's sum, locked in key order (no deadlocks).
    """
    if not awards:
        return []
    rows = await conn.fetch(
        "INSERT INTO ledger (camp_id, student_id, rule_id, cause, delta, source_event_id,"
        " rules_version, occurred_at)"
        " SELECT c, s, r, k, d, e, $7, o FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::text[], $5::int[], $6::text[], $8::timestamptz[]) AS u(c, s, r, k, d, e, o)"
        " ON CONFLICT (camp_id, student_id, rule_id, cause) DO NOTHING"
        " RETURNING id, camp_id, student_id, rule_id, cause, delta, source_event_id, occurred_at",
        [a.camp_id for a in awards],
        [a.student_id for a in awards],
        [a.rule_id for a in awards],
        [a.cause for a in awards],
        [a.delta for a in awards],
        [a.source_event_id for a in awards],
        rules_version,
        [a.occurred_at for a in awards],
    )
    if not rows:
        return []
    rows = sorted(rows, key=lambda r: r["id"])
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        sums[(r["camp_id"], r["student_id"])] += r["delta"]
    keys = sorted(sums)
    balances = await conn.fetch(
        "INSERT INTO balances (camp_id, student_id, balance)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::int[])"
        " ON CONFLICT (camp_id, student_id) DO UPDATE"
        " SET balance = balances.balance + excluded.balance, updated_at = now()"
        " RETURNING camp_id, student_id, balance",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [sums[k] for k in keys],
    )
    running = {
        (b["camp_id"], b["student_id"]): b["balance"] - sums[(b["camp_id"], b["student_id"])]
        for b in balances
    }
    entries = []
    for r in rows:
        key = (r["camp_id"], r["student_id"])
        running[key] += r["delta"]
        entries.append(Entry(balance_after=running[key], **dict(r)))
    await conn.execute(
        "UPDATE ledger SET balance_after = u.b FROM unnest($1::bigint[], $2::int[]) AS u(id, b)"
        " WHERE ledger.id = u.id",
        [e.id for e in entries],
        [e.balance_after for e in entries],
    )
    return entries


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


async def leaderboard(pool: asyncpg.Pool, camp_id: str, top: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT student_id, balance FROM balances WHERE camp_id = $1"
        " ORDER BY balance DESC, student_id LIMIT $2",
        camp_id,
        top,
    )
    return [{"rank": i + 1, **dict(r)} for i, r in enumerate(rows)]
