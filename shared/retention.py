"""The inbox's retention: rows older than GAMIFY_INBOX_RETENTION_DAYS are deleted.

An inbox row is what makes a redelivered event a no-op. Kafka can redeliver an event only
while its topic keeps it (7 days by default), so a row much older than the topics' retention
guards nothing, and without pruning the table grows by one row per event forever. After its
row is gone, the same event sent again is taken as new (and a reused event_id is no longer
told apart from it): keep the retention above the input topics' retention.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)

PRUNE_CHUNK = 10_000  # rows per transaction: short locks, short WAL bursts

# One replica of a service prunes at a time (the others skip that round); the key is per
# schema, so the services sharing a database do not wait for each other.
_PRUNE = """
WITH gone AS (
    DELETE FROM inbox WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM inbox
        WHERE processed_at < now() - make_interval(days => $1)
        LIMIT $2
    ))
    RETURNING 1
)
SELECT count(*) FROM gone
"""
_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext('gamify inbox retention ' || current_schema()))"


async def prune_inbox(pool: asyncpg.Pool, days: int, chunk: int = PRUNE_CHUNK) -> int | None:
    """Delete inbox rows older than `days`, `chunk` rows per transaction; how many, or None
    when another replica holds the pruning."""
    pruned = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(_LOCK):
                return None if pruned == 0 else pruned
            deleted: int = await conn.fetchval(_PRUNE, days, chunk)
        pruned += deleted
        if deleted < chunk:
            return pruned


async def prune_inbox_forever(
    pool: asyncpg.Pool, metrics: ServiceMetrics, days: int, every_s: float
) -> None:
    """Prune every `every_s` seconds, the first time at once; a failure is retried next round."""
    while True:
        try:
            pruned = await prune_inbox(pool, days)
        except (asyncpg.PostgresError, OSError) as exc:
            metrics.retries.labels(metrics.service, "inbox-retention").inc()
            log.warning("inbox retention failed, retrying in %.0fs: %r", every_s, exc)
        else:
            if pruned:
                metrics.inbox_pruned.labels(metrics.service).inc(pruned)
                log.info("inbox retention: %d rows older than %d days deleted", pruned, days)
        await asyncio.sleep(every_s)
