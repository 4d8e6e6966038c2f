"""The inbox's retention: rows older than the retention go, in chunks, one replica at a time;
younger rows stay; a running service prunes on its own and counts what it pruned."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from services.points.app import create_app
from shared.db import apply_migrations, create_pool
from shared.retention import prune_inbox
from shared.service import PLUMBING_MIGRATIONS, ServiceRuntime
from shared.settings import Settings
from tests.helpers import metric, scrape, wait_for

SCHEMA = "retention"


@pytest_asyncio.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database_url, SCHEMA, 3)
    await apply_migrations(pool, SCHEMA, [("plumbing", PLUMBING_MIGRATIONS)])
    yield pool
    await pool.close()


async def _fill(pool: asyncpg.Pool, rows: int, days_ago: float, tag: str) -> None:
    await pool.execute(
        "INSERT INTO inbox (topic, event_id, processed_at)"
        " SELECT 'gamify.checkins', $1 || n, now() - make_interval(secs => $2 * 86400)"
        " FROM generate_series(1, $3) AS n",
        tag,
        days_ago,
        rows,
    )


async def _count(pool: asyncpg.Pool, tag: str) -> int:
    n: int = await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id LIKE $1", f"{tag}%")
    return n


async def test_rows_older_than_the_retention_go_in_chunks_and_younger_ones_stay(
    pool: asyncpg.Pool,
) -> None:
    await _fill(pool, 2_500, 45, "old-")
    await _fill(pool, 300, 29.9, "young-")  # just inside 30 days
    await _fill(pool, 200, 0, "new-")
    assert await prune_inbox(pool, 30, chunk=1_000) == 2_500  # three chunks
    assert await _count(pool, "old-") == 0
    assert (await _count(pool, "young-"), await _count(pool, "new-")) == (300, 200)
    assert await prune_inbox(pool, 30, chunk=1_000) == 0  # nothing left to prune


async def test_a_replica_skips_the_round_while_another_prunes(pool: asyncpg.Pool) -> None:
    await _fill(pool, 100, 45, "old-")
    async with pool.acquire() as other, other.transaction():
        held = await other.fetchval(
            "SELECT pg_try_advisory_xact_lock("
            "hashtext('gamify inbox retention ' || current_schema()))"
        )
        assert held
        assert await prune_inbox(pool, 30) is None
        assert await _count(pool, "old-") == 100
    assert await prune_inbox(pool, 30) == 100


@contextlib.asynccontextmanager
async def points_with(
    settings: Settings, days: int, every_s: float
) -> AsyncIterator[ServiceRuntime]:
    """Points running with this retention; yields the runtime (its pool holds the inbox)."""
    update = {"inbox_retention_days": days, "inbox_prune_every_s": every_s}
    runtime = create_app(settings.model_copy(update=update))
    await runtime.start()
    try:
        assert runtime._pool is not None
        yield runtime
    finally:
        await runtime.stop()


async def test_a_running_service_prunes_its_inbox_and_counts_the_rows(settings: Settings) -> None:
    async with points_with(settings, 30, 0.2) as runtime:
        service_pool = runtime._pool
        assert service_pool is not None
        await _fill(service_pool, 1_234, 31, "old-")
        await _fill(service_pool, 10, 1, "new-")

        async def pruned() -> bool:
            return await _count(service_pool, "old-") == 0

        await wait_for(pruned, what="the old inbox rows pruned")
        samples = await scrape(runtime.http_port)
        assert metric(samples, "gamify_inbox_pruned_total", service="points") == 1_234
        assert await _count(service_pool, "new-") == 10


async def test_retention_0_keeps_the_inbox_forever(settings: Settings) -> None:
    async with points_with(settings, 0, 0.1) as runtime:
        assert runtime._pool is not None
        await _fill(runtime._pool, 50, 3_650, "old-")
        await asyncio.sleep(1.0)  # ten rounds had retention been on (the test above: 0.2 s)
        assert await _count(runtime._pool, "old-") == 50
        samples = await scrape(runtime.http_port)
        assert metric(samples, "gamify_inbox_pruned_total", service="points") == 0
