"""A ledger cause paid by another transaction between the read of paid causes and the insert:
the batch is refused (Contended, which the consumer retries) and nothing of it stays."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.points import store
from services.points.rules import Award
from shared.db import TRANSIENT_ERRORS, Contended, apply_migrations, create_pool
from shared.service import PLUMBING_MIGRATIONS
from shared.settings import Settings

POINTS_MIGRATIONS = Path(store.__file__).parent / "migrations"


def award(cause: str, delta: int = 10) -> Award:
    return Award("c1", "s1", "checkin", cause, delta, f"e-{cause}", datetime.now(UTC), 1)


async def test_a_cause_paid_meanwhile_rolls_the_batch_back(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = await create_pool(settings.database_url, "points", 2)
    try:
        await apply_migrations(
            pool, "points", [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS_MIGRATIONS)]
        )
        async with pool.acquire() as conn, conn.transaction():
            first = await store.record_awards(conn, [award("day:1")], "v1")
        assert [(e.delta, e.balance_after) for e in first] == [(10, 10)]

        async def nothing_paid(_conn: object, _awards: object) -> set[object]:
            return set()  # as if day:1 was paid after this transaction read the ledger

        monkeypatch.setattr(store, "_paid_causes", nothing_paid)
        with pytest.raises(Contended):
            async with pool.acquire() as conn, conn.transaction():
                await store.record_awards(conn, [award("day:2"), award("day:1")], "v1")
        assert Contended in TRANSIENT_ERRORS  # the consumer runs the batch again

        rows = await pool.fetch("SELECT cause, balance_after FROM ledger ORDER BY id")
        assert [(r["cause"], r["balance_after"]) for r in rows] == [("day:1", 10)]
        assert await store.balance(pool, "c1", "s1") == 10  # the balance move rolled back
    finally:
        await pool.close()
