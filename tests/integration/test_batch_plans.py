"""The points statements that read tables for a batch probe their indexes whatever the batch's
size: PostgreSQL assumes any jsonb array holds 100 rows, and against a ledger of some 10,000
rows it chose to read the whole ledger for a batch of five (2.4 ms a batch, at a trickle)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.points import store
from services.points.rules import Award
from shared.db import apply_migrations, create_pool
from shared.service import PLUMBING_MIGRATIONS

POINTS = Path(__file__).resolve().parents[2] / "services" / "points" / "migrations"


class Recorder:
    """Stands in for a connection: keeps the statement instead of running it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.calls.append((sql, args))
        return []


@pytest.mark.parametrize("table", ["ledger", "checkin_calendar"])
async def test_a_small_batch_probes_the_index_of_a_sizeable_table(
    database_url: str, table: str
) -> None:
    pool = await create_pool(database_url, "points", 1)
    try:
        await apply_migrations(
            pool, "points", [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS)]
        )
        await pool.execute(
            "INSERT INTO ledger (camp_id, student_id, rule_id, cause, delta, source_event_id,"
            " rules_version, occurred_at) SELECT 'c', 's' || i, 'checkin', 'day:1', 10, 'e' || i,"
            " 'v', now() FROM generate_series(1, 10000) AS i"
        )
        await pool.execute(
            "INSERT INTO checkin_calendar (camp_id, student_id, days)"
            " SELECT 'c', 's' || i, '{1}' FROM generate_series(1, 10000) AS i"
        )
        await pool.execute("ANALYZE")
        recorder = Recorder()
        at = datetime(2026, 11, 30, tzinfo=UTC)
        if table == "ledger":
            awards = [Award("c", f"s{i}", "checkin", "day:2", 10, "e", at) for i in range(5)]
            await store._paid_causes(recorder, awards)  # type: ignore[arg-type]
        else:
            facts = [("c", f"s{i}", 2) for i in range(5)]
            await store.record_checkin_days(recorder, facts, {"c": "7,14,21"})  # type: ignore[arg-type]
        [(sql, args)] = recorder.calls
        async with pool.acquire() as conn:
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
        index = "ledger_cause" if table == "ledger" else "checkin_calendar_pkey"
        assert f"Seq Scan on {table}" not in plan
        assert f"Scan using {index}" in plan  # an index scan or an index-only scan
    finally:
        await pool.close()
