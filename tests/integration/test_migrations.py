from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from shared.db import apply_migrations, create_pool
from shared.service import PLUMBING_MIGRATIONS

POINTS = Path(__file__).resolve().parents[2] / "services" / "points" / "migrations"


async def test_two_replicas_starting_at_once_apply_each_migration_once(database_url: str) -> None:
    pools = await asyncio.gather(*(create_pool(database_url, "points", 2) for _ in range(2)))
    tracks = [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS)]
    try:
        results = await asyncio.gather(*(apply_migrations(p, "points", tracks) for p in pools))
        assert sorted(len(r) for r in results) == [0, 5]
        assert await apply_migrations(pools[0], "points", tracks) == []
        rows = await pools[0].fetch("SELECT track, version FROM schema_migrations ORDER BY 1, 2")
        assert [(r["track"], r["version"]) for r in rows] == [
            ("plumbing", 1),
            ("plumbing", 2),
            ("points", 1),
            ("points", 2),
            ("points", 3),
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
