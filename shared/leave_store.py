"""Each service that counts runs or gaps (points, badges, nudges) keeps the leaves reported in
a `leaves` table of its own; the statements are written once here."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db import Writes, pair_columns, students_rows
from shared.events import Leave
from shared.leave import leave_days_of

Pair = tuple[str, str]


def add_leaves(writes: Writes, leaves: Sequence[Leave]) -> None:
    spans = sorted({(x.camp_id, x.student_id, x.from_day, x.to_day) for x in leaves})
    if spans:
        writes.add(
            "INSERT INTO leaves SELECT * FROM unnest($1::text[], $2::text[], $3::int[],"
            " $4::int[]) ON CONFLICT DO NOTHING",
            *([s[i] for s in spans] for i in range(4)),
        )


async def save_leaves(conn: asyncpg.Connection, leaves: Sequence[Leave]) -> None:
    writes = Writes()
    add_leaves(writes, leaves)
    await writes.send(conn)


async def leaves_of(
    conn: asyncpg.Connection | asyncpg.Pool, pairs: Sequence[Pair], cap: int | None
) -> dict[Pair, frozenset[int]]:
    """Each student's days of leave; only students with leave are listed."""
    if not pairs:
        return {}
    rows = await conn.fetch(
        f"SELECT t.camp_id, t.student_id, t.from_day, t.to_day FROM {students_rows('leaves')}",
        *pair_columns(set(pairs)),
    )
    return leave_days_of((((c, s), f, t) for c, s, f, t in rows), cap)


async def camp_leaves(
    conn: asyncpg.Connection, camp_id: str, cap: int | None, nudges_schema: bool = False
) -> dict[str, frozenset[int]]:
    """Each student of a camp with leave, and their days of it; `nudges_schema` reads the
    nudges service's table from a connection of any schema (the reports)."""
    sql = "SELECT student_id, from_day, to_day FROM leaves WHERE camp_id = $1"
    if nudges_schema:
        sql = sql.replace("FROM leaves", "FROM nudges.leaves")
    return leave_days_of((tuple(r) for r in await conn.fetch(sql, camp_id)), cap)
