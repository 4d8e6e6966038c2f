"""Statements that read a batch's rows of a table probe its index whatever the batch's size.

PostgreSQL assumes any jsonb array holds 100 rows: against a ledger of some 10,000 rows it read
the whole ledger for a batch of five (2.4 ms a batch, at a trickle). And for a few hundred
students of 10,000 it prefers reading the whole table to probing the index for each (nudges'
check-ins: 25-40 ms a batch instead of 2-3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.nudges import store as nudges_store
from services.points import ledger, store
from services.points.rules import Award
from shared.camp_days import instant, micros
from shared.db import apply_migrations, create_pool, students_rows
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
        await pool.execute(  # read with the calendars
            "INSERT INTO leaves SELECT 'c', 's' || i, 3, 4 FROM generate_series(1, 10000) AS i"
        )
        await pool.execute("ANALYZE")
        recorder = Recorder()
        at = datetime(2026, 11, 30, tzinfo=UTC)
        if table == "ledger":
            awards = [Award("c", f"s{i}", "checkin", "day:2", 10, "e", at) for i in range(5)]
            await ledger._paid_causes(recorder, awards)  # type: ignore[arg-type]
        else:
            facts = [("c", f"s{i}", 2) for i in range(5)]
            await store.record_checkin_days(recorder, facts, {"c": "7,14,21"})  # type: ignore[arg-type]
        [(sql, args)] = recorder.calls
        async with pool.acquire() as conn:
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
        index = "ledger_cause" if table == "ledger" else "checkin_calendar_pkey"
        assert f"Seq Scan on {table}" not in plan and "Seq Scan on leaves" not in plan
        assert f"Scan using {index}" in plan  # an index scan or an index-only scan
    finally:
        await pool.close()


async def test_a_batchs_students_are_read_by_index_probes(database_url: str) -> None:
    pool = await create_pool(database_url, "plans", 1)
    try:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS days (camp_id text, student_id text, day int,"
            " PRIMARY KEY (camp_id, student_id, day))"
        )
        await pool.execute(
            "INSERT INTO days SELECT 'c', 's' || lpad(i::text, 5, '0'), d"
            " FROM generate_series(1, 10000) AS i, generate_series(1, 2) AS d"
            " ON CONFLICT DO NOTHING"
        )
        await pool.execute("ANALYZE days")
        students = [f"s{i:05d}" for i in range(1, 8000, 20)]  # 400 of 10,000
        args = (["c"] * len(students), students)
        sql = f"SELECT t.student_id, t.day FROM {students_rows('days', ' AND t.day > 0')}"
        plan = "\n".join(r[0] for r in await pool.fetch(f"EXPLAIN {sql}", *args))
        assert "Seq Scan" not in plan and "Nested Loop" in plan
        rows = await pool.fetch(sql + " ORDER BY 1, 2", *args)
        assert [(r[0], r[1]) for r in rows] == [(s, d) for s in students for d in (1, 2)]
    finally:
        await pool.close()


NUDGES = Path(__file__).resolve().parents[2] / "services" / "nudges" / "migrations"


async def test_nudges_reads_a_batchs_check_in_histories_exactly_by_index_probes(
    database_url: str,
) -> None:
    """One row per student, days and report times as integer arrays: the times come back to
    the microsecond, and each student's rows are found through the primary key."""
    pool = await create_pool(database_url, "nudges_days", 2)
    try:
        await apply_migrations(
            pool, "nudges_days", [("plumbing", PLUMBING_MIGRATIONS), ("nudges", NUDGES)]
        )
        await pool.execute(
            "INSERT INTO checkins (camp_id, student_id, day, occurred_at)"
            " SELECT 'c', 's' || lpad(i::text, 5, '0'), d, timestamptz '2026-11-01 00:00:00+00'"
            "   + make_interval(days => d, secs => i * 0.000001)"
            " FROM generate_series(1, 10000) AS i, generate_series(1, 3) AS d"
            " ON CONFLICT DO NOTHING"
        )
        await pool.execute("ANALYZE checkins")
        students = [f"s{i:05d}" for i in range(1, 8000, 20)] + ["nobody"]  # 400 of 10,000
        pairs = [("c", s) for s in students]
        async with pool.acquire() as conn:
            recorder = Recorder()
            await nudges_store.days_of(recorder, pairs)  # type: ignore[arg-type]
            [(sql, args)] = recorder.calls
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
            assert "Seq Scan on checkins" not in plan and "checkins_pkey" in plan, plan
            got = await nudges_store.days_of(conn, pairs)
        first = datetime(2026, 11, 1, tzinfo=UTC)
        assert got == {
            ("c", s): {
                d: micros(first + timedelta(days=d, microseconds=int(s[1:]))) for d in (1, 2, 3)
            }
            for s in students[:-1]
        }
        assert instant(got[("c", "s00021")][2]) == first + timedelta(days=2, microseconds=21)
    finally:
        await pool.close()
