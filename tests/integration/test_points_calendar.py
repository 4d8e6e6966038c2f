"""A student's calendar row holds each checked-in day once, in order, whatever order the days
come in and however often (a make-up sent twice, a day reported late)."""

from __future__ import annotations

from pathlib import Path

from services.points import store
from shared.db import apply_migrations, create_pool
from shared.service import PLUMBING_MIGRATIONS

POINTS = Path(__file__).resolve().parents[2] / "services" / "points" / "migrations"


async def test_days_are_kept_once_and_in_order_whatever_their_arrival(database_url: str) -> None:
    pool = await create_pool(database_url, "points", 1)
    try:
        await apply_migrations(
            pool, "points", [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS)]
        )
        batches = [  # each a transaction, as the handler's batches are
            [1, 2],
            [3],  # after the last day kept
            [3],  # a day kept already, again
            [2, 5],  # one late, one new
            [4, 6, 6],  # a gap filled late, and a day twice in one batch
            [7],
        ]
        kept: list[list[int]] = []
        for days in batches:
            async with pool.acquire() as conn, conn.transaction():
                calendars = await store.record_checkin_days(
                    conn, [("c", "s", d) for d in days], {"c": "rules-1"}
                )
                kept.append(sorted(calendars[("c", "s")].days))
                before = calendars[("c", "s")].days_before
            stored = await pool.fetchval(
                "SELECT days FROM checkin_calendar WHERE camp_id = 'c' AND student_id = 's'"
            )
            assert stored == kept[-1], days
            assert before == (kept[-2] if len(kept) > 1 else []), days
        assert kept[-1] == [1, 2, 3, 4, 5, 6, 7]
    finally:
        await pool.close()
