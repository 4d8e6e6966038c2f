"""Leaderboards (read side): students ranked by the points they earned, all-time or in one camp
week. Redemptions do not lower a rank; equal totals share a rank (1, 2, 2, 4); a board can show
display names or be anonymous."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

Row = dict[str, Any]


async def ranked(pool: asyncpg.Pool, camp_id: str, week: int | None) -> list[Row] | None:
    """Every student with earnings on the board, best first (None: the camp is not known)."""
    if week is None:
        rows = await pool.fetch(
            "SELECT b.student_id, b.earned AS points, s.display_name,"
            " rank() OVER (ORDER BY b.earned DESC)::int AS rank"
            " FROM balances b LEFT JOIN students s USING (camp_id, student_id)"
            " WHERE b.camp_id = $1 AND b.earned > 0 ORDER BY rank, b.student_id",
            camp_id,
        )
        return [dict(r) for r in rows]
    camp = await pool.fetchrow("SELECT starts_on, timezone FROM camps WHERE camp_id = $1", camp_id)
    if camp is None:
        return None
    first_day = camp["starts_on"] + timedelta(days=7 * (week - 1))
    start = datetime.combine(first_day, time(), ZoneInfo(camp["timezone"]))
    end = datetime.combine(first_day + timedelta(days=7), time(), ZoneInfo(camp["timezone"]))
    rows = await pool.fetch(
        "SELECT l.student_id, sum(l.delta)::int AS points, s.display_name,"
        " rank() OVER (ORDER BY sum(l.delta) DESC)::int AS rank"
        " FROM ledger l LEFT JOIN students s USING (camp_id, student_id)"
        " WHERE l.camp_id = $1 AND l.delta > 0 AND l.occurred_at >= $2 AND l.occurred_at < $3"
        " GROUP BY l.student_id, s.display_name ORDER BY rank, l.student_id",
        camp_id,
        start,
        end,
    )
    return [dict(r) for r in rows]


def shown(row: Row, names: str, own: str | None = None) -> Row:
    """A board row as the reader sees it: anonymous boards show only ranks and points (and
    mark the reader's own row, with its id)."""
    if names == "show":
        return {k: row[k] for k in ("rank", "student_id", "display_name", "points")}
    out: Row = {"rank": row["rank"], "points": row["points"]}
    if own is not None and row["student_id"] == own:
        out |= {"student_id": own, "you": True}
    return out


def around(board: list[Row], student_id: str, reach: int, names: str) -> Row:
    """A student's place on a board and the `reach` students just above and below."""
    at = next((i for i, r in enumerate(board) if r["student_id"] == student_id), None)
    if at is None:
        return {"rank": None, "points": 0, "above": [], "below": []}
    return {
        "rank": board[at]["rank"],
        "points": board[at]["points"],
        "above": [shown(r, names) for r in board[max(at - reach, 0) : at]],
        "below": [shown(r, names) for r in board[at + 1 : at + 1 + reach]],
    }
