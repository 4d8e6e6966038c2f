from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from services.points import ledger
from shared.db import apply_migrations, create_pool
from shared.service import PLUMBING_MIGRATIONS

POINTS = Path(__file__).resolve().parents[2] / "services" / "points" / "migrations"


def migrations_before(source: Path, number: int, into: Path) -> Path:
    """A copy of `source`'s migrations numbered below `number`, in `into`: a deployment that
    has not yet upgraded to it."""
    into.mkdir(exist_ok=True)
    for f in sorted(source.glob("*.sql")):
        if int(f.name[:3]) < number:
            shutil.copy(f, into / f.name)
    return into


async def test_two_replicas_starting_at_once_apply_each_migration_once(database_url: str) -> None:
    pools = await asyncio.gather(*(create_pool(database_url, "points", 2) for _ in range(2)))
    tracks = [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS)]
    try:
        results = await asyncio.gather(*(apply_migrations(p, "points", tracks) for p in pools))
        files = {t: sorted(d.glob("*.sql")) for t, d in tracks}
        assert sorted(len(r) for r in results) == [0, sum(len(f) for f in files.values())]
        assert await apply_migrations(pools[0], "points", tracks) == []
        rows = await pools[0].fetch("SELECT track, version FROM schema_migrations ORDER BY 1, 2")
        assert [(r["track"], r["version"]) for r in rows] == [
            (t, int(f.name.split("_")[0])) for t, _ in tracks for f in files[t]
        ]
    finally:
        for p in pools:
            await p.close()


async def test_each_service_keeps_its_tables_in_its_own_schema(database_url: str) -> None:
    pool = await create_pool(database_url, "points", 1)
    try:
        await apply_migrations(pool, "points", [("plumbing", PLUMBING_MIGRATIONS)])
    finally:
        await pool.close()
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'points'"
        )
        assert {"inbox", "outbox", "schema_migrations"} <= {t["table_name"] for t in tables}
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("service", "before_calendar", "insert"),
    [
        (
            "points",
            "00[123]_*.sql",
            "INSERT INTO checkin_days (camp_id, student_id, day, event_id) VALUES"
            " ('c', 'a', 3, 'e1'), ('c', 'a', 1, 'e2'), ('c', 'b', 2, 'e3'), ('d', 'a', 7, 'e4')",
        ),
        (
            "badges",
            "001_*.sql",
            "INSERT INTO checkin_days (camp_id, student_id, day) VALUES"
            " ('c', 'a', 3), ('c', 'a', 1), ('c', 'b', 2), ('d', 'a', 7)",
        ),
    ],
)
async def test_checkin_days_move_into_one_calendar_row_per_student(
    database_url: str, tmp_path: Path, service: str, before_calendar: str, insert: str
) -> None:
    """The calendar migration keeps every day recorded before it: a deployment upgraded
    mid-camp computes its streaks and badges from the same days."""
    migrations = POINTS.parent.parent / service / "migrations"
    before = tmp_path / service
    before.mkdir()
    for f in sorted(migrations.glob(before_calendar)):
        shutil.copy(f, before / f.name)
    pool = await create_pool(database_url, service, 1)
    try:
        plumbing = ("plumbing", PLUMBING_MIGRATIONS)  # service migrations may rely on it
        await apply_migrations(pool, service, [plumbing, (service, before)])
        await pool.execute(insert)
        applied = await apply_migrations(pool, service, [plumbing, (service, migrations)])
        assert applied[0].split("/")[1].split("_", 1)[1] == "checkin_calendar.sql"
        rows = await pool.fetch("SELECT * FROM checkin_calendar ORDER BY 1, 2")
        assert [(r["camp_id"], r["student_id"], r["days"]) for r in rows] == [
            ("c", "a", [1, 3]),
            ("c", "b", [2]),
            ("d", "a", [7]),
        ]
    finally:
        await pool.close()


async def test_the_ledger_keeps_one_row_per_cause_with_its_indexes(database_url: str) -> None:
    """Migration 005: the cause's unique key leads with the student and serves the history;
    a second row for a cause is still refused, whatever order the conflict names columns in.
    (Migration 007 adds the camp's earnings by time, for the weekly leaderboard.)"""
    pool = await create_pool(database_url, "points", 1)
    try:
        await apply_migrations(
            pool, "points", [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS)]
        )
        indexes = await pool.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'points' AND tablename = 'ledger'"
        )
        assert sorted(i["indexname"] for i in indexes) == [
            "ledger_camp_earnings",
            "ledger_cause",
            "ledger_pkey",
            "ledger_share_day",
        ]
        row = (
            "INSERT INTO ledger (camp_id, student_id, rule_id, cause, delta, source_event_id,"
            " rules_version, occurred_at) VALUES ('c', 's', 'checkin', 'day:1', 5, 'e', 'v', now())"
        )
        await pool.execute(row)
        await pool.execute(row + " ON CONFLICT (camp_id, student_id, rule_id, cause) DO NOTHING")
        with pytest.raises(asyncpg.UniqueViolationError):
            await pool.execute(row)
        assert await pool.fetchval("SELECT count(*) FROM ledger") == 1
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")  # the table holds one row
            plan = await conn.fetchval(
                "EXPLAIN (FORMAT JSON) SELECT id FROM ledger WHERE student_id = 's' ORDER BY id"
            )
        assert "ledger_cause" in plan
    finally:
        await pool.close()


@pytest.mark.parametrize("service", ["points", "badges"])
async def test_calendars_leave_room_for_hot_updates(database_url: str, service: str) -> None:
    """A batch updates its students' calendar rows: with room left in each page the new
    version goes beside the old one, a HOT update (no index entry, pruned without vacuum).
    Without the room (fillfactor 100) almost none of these would be HOT."""
    migrations = POINTS.parent.parent / service / "migrations"
    pool = await create_pool(database_url, service, 1)
    try:
        tracks = [("plumbing", PLUMBING_MIGRATIONS), (service, migrations)]
        await apply_migrations(pool, service, tracks)
        await pool.execute(
            "INSERT INTO checkin_calendar (camp_id, student_id, days)"
            " SELECT 'c', 's' || i, '{1}' FROM generate_series(1, 2000) AS i"
        )
        async with pool.acquire() as conn, conn.transaction():
            for batch in range(3):  # three batches, each a tenth of the students
                await conn.execute(
                    "UPDATE checkin_calendar SET days = days || 2"
                    " WHERE substr(student_id, 2)::int % 10 = $1",
                    batch,
                )
            hot = await conn.fetchval(
                "SELECT pg_stat_get_xact_tuples_hot_updated('checkin_calendar'::regclass)"
            )
        assert hot >= 0.9 * 600
    finally:
        await pool.close()


async def test_balance_moves_are_hot_updates(database_url: str) -> None:
    """Each batch moves its students' balances: with no index on what moves and room in each
    page, the new versions go beside the old ones (HOT). With the index on earnings, none
    would be; without the room, few."""
    pool = await create_pool(database_url, "points", 1)
    try:
        await apply_migrations(
            pool, "points", [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS)]
        )
        students = [("c", f"s{i}") for i in range(2000)]
        async with pool.acquire() as conn, conn.transaction():
            first = dict.fromkeys(students, 5)
            await ledger._move_balances(conn, first, first)
        async with pool.acquire() as conn, conn.transaction():
            for batch in range(3):  # three batches, each a tenth of the students
                moved = dict.fromkeys(students[batch::10], 5)
                await ledger._move_balances(conn, moved, moved)
            hot = await conn.fetchval(
                "SELECT pg_stat_get_xact_tuples_hot_updated('balances'::regclass)"
            )
        assert hot >= 0.9 * 600
        assert await pool.fetchval("SELECT sum(earned) FROM balances") == 5 * (2000 + 600)
    finally:
        await pool.close()


async def test_outbox_rows_are_stored_uncompressed(database_url: str) -> None:
    """A batch's events leave the outbox milliseconds after they are written: compressing
    them cost PostgreSQL twice the CPU of storing them as they are."""
    pool = await create_pool(database_url, "points", 1)
    try:
        await apply_migrations(
            pool, "points", [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS)]
        )
        payloads = [f'{{"event_id": "e{i}", "student_id": "s{i % 7}"}}' for i in range(500)]
        await pool.execute(
            "INSERT INTO outbox (topics, keys, payloads) VALUES ($1, $2, $3)",
            ["gamify.points"] * 500,
            [f"s{i % 7}" for i in range(500)],
            payloads,
        )
        stored = await pool.fetchrow(
            "SELECT pg_column_compression(topics) AS topics, pg_column_compression(keys) AS keys,"
            " pg_column_compression(payloads) AS payloads, pg_column_size(payloads) AS size"
            " FROM outbox"
        )
        assert (stored["topics"], stored["keys"], stored["payloads"]) == (None, None, None)
        assert stored["size"] > sum(map(len, payloads))  # out of line, whole
    finally:
        await pool.close()


async def test_the_inbox_keeps_its_events_through_the_bytewise_keys(
    database_url: str, tmp_path: Path
) -> None:
    """The inbox's keys move to the "C" collation with the events already in it: each is
    still known (a redelivery is still refused) and the key is still unique."""
    old = migrations_before(PLUMBING_MIGRATIONS, 8, tmp_path / "plumbing")
    pool = await create_pool(database_url, "points", 1)
    try:
        await apply_migrations(pool, "points", [("plumbing", old)])
        await pool.execute(
            "INSERT INTO inbox (topic, event_id) VALUES ('t', 'Zeta'), ('t', 'alpha'), ('t', 'é')"
        )
        await apply_migrations(pool, "points", [("plumbing", PLUMBING_MIGRATIONS)])
        collations = await pool.fetch(
            "SELECT attname, collname FROM pg_attribute JOIN pg_collation c"
            " ON c.oid = attcollation WHERE attrelid = 'inbox'::regclass"
            " AND attname IN ('topic', 'event_id') ORDER BY attname"
        )
        assert [(r["attname"], r["collname"]) for r in collations] == [
            ("event_id", "C"),
            ("topic", "C"),
        ]
        again = await pool.fetch(
            "INSERT INTO inbox (topic, event_id) VALUES ('t', 'Zeta'), ('t', 'é'), ('t', 'new')"
            " ON CONFLICT DO NOTHING RETURNING event_id"
        )
        assert [r["event_id"] for r in again] == ["new"]
        ordered = await pool.fetch("SELECT event_id FROM inbox ORDER BY event_id")
        assert [r["event_id"] for r in ordered] == ["Zeta", "alpha", "new", "é"]  # bytewise
    finally:
        await pool.close()


async def test_a_running_deployment_takes_on_the_integrity_gate_with_what_it_knew(
    database_url: str, tmp_path: Path
) -> None:
    """Before the gate, points knew its camps and held events for unknown ones: after the
    upgrade the gate knows those camps (their check-ins do not wait) and holds those events."""
    old_plumbing = migrations_before(PLUMBING_MIGRATIONS, 4, tmp_path / "plumbing")
    old_points = migrations_before(POINTS, 8, tmp_path / "points")
    pool = await create_pool(database_url, "points", 1)
    try:
        await apply_migrations(pool, "points", [("plumbing", old_plumbing), ("points", old_points)])
        await pool.execute(
            "INSERT INTO camps VALUES ('c1', '2026-11-20', 21, 'Asia/Shanghai', now())"
        )
        await pool.execute(
            "INSERT INTO held (topic, event_id, camp_id, payload) VALUES"
            " ('camp.checkins', 'e1', 'c2', '{}'),"
            " ('camp.shares', 'e2', 'c2', '{\"submission_id\": \"w1\"}')"
        )
        await apply_migrations(
            pool, "points", [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS)]
        )
        # with its length too (points migration 012)
        assert await pool.fetch("SELECT camp_id, timezone, days FROM gate_camps") == [
            ("c1", "Asia/Shanghai", 21)
        ]
        held = await pool.fetch(
            "SELECT event_id, camp_id, submission_id FROM gate_held ORDER BY event_id"
        )
        assert [tuple(r) for r in held] == [("e1", "c2", None), ("e2", "c2", "w1")]
        assert await pool.fetchval("SELECT to_regclass('held')") is None
    finally:
        await pool.close()


async def test_events_waiting_in_the_outbox_keep_their_order_through_the_upgrade(
    database_url: str, tmp_path: Path
) -> None:
    """Migration 005 makes an outbox row hold a transaction's events: rows waiting when a
    deployment upgrades are published after it, in their order, and new rows follow them."""
    old = migrations_before(PLUMBING_MIGRATIONS, 5, tmp_path / "plumbing")
    pool = await create_pool(database_url, "upgrade_outbox", 1)
    try:
        await apply_migrations(pool, "upgrade_outbox", [("plumbing", old)])
        await pool.execute(
            "INSERT INTO outbox (topic, key, event_id, payload) VALUES"
            " ('gamify.points', 's2', 'e1', '{\"n\": 1}'), ('gamify.badges', NULL, 'e2', '{}'),"
            " ('gamify.points', 's1', 'e3', '{\"n\": 3}')"
        )
        await pool.execute("DELETE FROM outbox WHERE event_id = 'e2'")  # published already
        await apply_migrations(pool, "upgrade_outbox", [("plumbing", PLUMBING_MIGRATIONS)])
        await pool.execute(
            "INSERT INTO outbox (topics, keys, payloads) VALUES ($1, $2, $3)",
            ["gamify.gifts"],
            ["s9"],
            ["{}"],
        )
        rows = await pool.fetch("SELECT topics, keys, payloads FROM outbox ORDER BY id")
        assert [tuple(r) for r in rows] == [
            (["gamify.points"], ["s2"], ['{"n": 1}']),
            (["gamify.points"], ["s1"], ['{"n": 3}']),
            (["gamify.gifts"], ["s9"], ["{}"]),
        ]
        indexes = await pool.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'upgrade_outbox'"
            " AND tablename = 'outbox'"
        )
        assert [i["indexname"] for i in indexes] == ["outbox_pkey"]
        with pytest.raises(asyncpg.CheckViolationError):  # arrays out of step
            await pool.execute(
                "INSERT INTO outbox (topics, keys, payloads) VALUES ('{t}', '{}', '{p}')"
            )
    finally:
        await pool.close()
