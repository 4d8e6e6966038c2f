"""Transactional outbox: output events are rows written with the state change they report,
then published by a relay, so that an output exists if and only if its effect was committed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from murmurhash2 import murmurhash2

from shared import topics
from shared.db import check_identifier
from shared.events import Event
from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("6f1c1c55-3c5e-4bb8-9a43-2b0d6c2a9e17")
_NAMESPACE_BYTES = _NAMESPACE.bytes


def derived_event_id(*parts: object) -> str:
    """A deterministic output event_id: the same cause always yields the same id.

    It is uuid.uuid5(_NAMESPACE, the parts joined by US), computed without building UUID
    objects (one per output event: it showed in profiles).
    """
    name = "\x1f".join(map(str, parts)).encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True)
class OutMessage:
    topic: str
    key: str | None
    event: Event


# A row holds at most ROW_EVENTS events and ROW_BYTES characters of payload (or one larger
# event): a claim of `claim_rows` rows stays bounded in memory whatever the transactions wrote.
ROW_EVENTS = 1000
ROW_BYTES = 1 << 20

# The seed of Kafka's default partitioner (the Java clients' and aiokafka's murmur2).
_MURMUR2_SEED = 0x9747B28C


def key_partition(key: bytes, partitions: int) -> int:
    """Which of `partitions` partitions Kafka's default partitioner gives a message keyed
    `key`: murmur2 with the sign bit cleared, modulo the count. The relay picks partitions
    itself; murmurhash2's compiled hash takes 0.13 us a key where Python's took 1.7."""
    return (murmurhash2(key, _MURMUR2_SEED) & 0x7FFFFFFF) % partitions


async def enqueue(conn: asyncpg.Connection, messages: Sequence[OutMessage]) -> None:
    """Write output events in the caller's transaction, as one outbox row (or a few)."""
    if messages:
        await conn.executemany(
            "INSERT INTO outbox (topics, keys, payloads) VALUES ($1, $2, $3)",
            outbox_rows((m.topic, m.key, m.event.model_dump_json()) for m in messages),
        )


def outbox_rows(
    events: Iterable[tuple[str, str | None, str]],
) -> list[tuple[list[str], list[str | None], list[str]]]:
    """(topic, key, payload) of each event, in order, as outbox rows' arrays."""
    rows: list[tuple[list[str], list[str | None], list[str]]] = []
    size = 0
    for topic, key, payload in events:
        if not rows or len(rows[-1][2]) == ROW_EVENTS or size + len(payload) > ROW_BYTES:
            rows.append(([], [], []))
            size = 0
        rows[-1][0].append(topic)
        rows[-1][1].append(key)
        rows[-1][2].append(payload)
        size += len(payload)
    return rows


async def events_waiting(db: asyncpg.Pool | asyncpg.Connection, schema: str | None = None) -> int:
    """Output events written but not yet published: the relay's backlog (of `schema`'s outbox,
    or the one on the search path)."""
    table = "outbox" if schema is None else f"{check_identifier(schema)}.outbox"
    waiting: int = await db.fetchval("SELECT coalesce(sum(cardinality(topics)), 0) FROM " + table)
    return waiting


@contextlib.asynccontextmanager
async def claiming(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """The transaction that claims run in: committed when the block ends, rolled back if it
    raises. It walks the outbox by its primary key whatever the statistics say (see claim),
    set in the same round trip as the BEGIN: a claim is then three round trips, not four."""
    await conn.execute("BEGIN; SET LOCAL enable_seqscan = off")
    try:
        yield
    except BaseException:
        # A connection that died meanwhile has no transaction left; the pool replaces it.
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


async def claim(
    conn: asyncpg.Connection, limit: int, after: int | None = None
) -> list[asyncpg.Record]:
    """Delete (in the caller's `claiming` transaction) and return the oldest `limit` unclaimed
    rows (each a transaction's events, see enqueue), or the oldest with an id above `after`.

    Through the primary key's index whatever the statistics say (set by `claiming`). A queue
    table's statistics are taken when autovacuum happens to pass, often while it holds a few
    live rows among thousands of pages of dead ones; estimating a handful of rows, the planner
    read and sorted the whole table for each claim, which slowed the relay as its backlog grew
    and so grew the backlog (57,414 outputs left behind in a benchmark drain, PostgreSQL at 0.9
    cores).

    `after` starts the walk past the index's head, where the rows already claimed leave
    entries until vacuum removes them (see OutboxRelay). The rows are deleted where the walk
    found and locked them (by ctid, which a locked row keeps), not looked up again in the index
    one by one: half the statement's time for 500 rows."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "DELETE FROM outbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM outbox WHERE id > $2"
        " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED))"
        # the time as epoch seconds: a float decodes at a fraction of a timestamptz's cost
        " RETURNING id, topics, keys, payloads, extract(epoch FROM created_at)::float8 AS created",
        limit,
        0 if after is None else after,  # ids start at 1: past 0 is the head
    )
    return rows


# While behind, how often the relay still claims from the outbox's head (see OutboxRelay).
SWEEP_EVERY_S = 1.0


class OutboxRelay:
    """Publishes outbox rows in id order and deletes them once the broker acknowledged them.

    A claim takes up to `claim_rows` rows: the events of as many transactions.

    Replicas share the table safely: rows are claimed with FOR UPDATE SKIP LOCKED. A crash
    after publishing but before deleting republishes the same events with the same event_ids.

    While behind (its last claim was full), the relay claims past the highest id it has
    published, not from the head. Every row it deleted leaves an index entry at the head until
    vacuum removes it, and while any transaction in the database holds a snapshot older than
    the deletion (a report, a backup, a long batch), each claim from the head must visit every
    such row in the table to learn that it is gone. Claims then cost more with every row
    published, the relay falls behind and its backlog grows (measured: 22 -> 97 ms a claim of
    500 within 30 s, with the relay at half the writers' rate). Rows committed late with lower
    ids (a transaction that drew its ids first and committed last) are not lost: the relay
    claims from the head again once caught up, after a failure, and at least every
    SWEEP_EVERY_S while behind.
    """

    def __init__(
        self,
        service: str,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        metrics: ServiceMetrics,
        topic_prefix: str = "",
        claim_rows: int = 16,
        idle_poll_s: float = 0.25,
    ) -> None:
        self._service = service
        self._pool = pool
        self._producer = producer
        self._metrics = metrics
        self._prefix = topic_prefix
        self._claim_rows = claim_rows
        self._idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()
        self._last_backlog_check = 0.0
        self._partitioner = DefaultPartitioner()
        self._published_up_to: int | None = None  # the highest id this relay has published
        self._behind = False  # the last claim was full
        self._swept_at = 0.0  # the last claim from the head
        self._last_claim_from_head = True

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows, so they leave without waiting a poll."""
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.1
        while True:
            # Cleared before the claim, not after it: a commit that wakes the relay while it
            # publishes wrote rows this claim may not have seen, and the wait below must not
            # swallow that wake-up (it did: such rows waited for the next commit or the poll).
            self._wake.clear()
            try:
                published = await self.publish_once()
                await self._refresh_backlog(published)
                backoff = 0.1
            except Exception as exc:  # the relay outlives any failure: rows stay until published
                self._metrics.retries.labels(self._service, "relay").inc()
                log.warning("outbox relay failed, retrying in %.1fs: %r", backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            # Rest only after a claim from the head came back short: a short claim past the
            # floor says nothing of rows committed late below it.
            if not self._behind and self._last_claim_from_head:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation
                # that arrives as the wait ends, and the relay would then never stop
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_poll_s):
                        await self._wake.wait()

    async def publish_once(self) -> int:
        """Publish up to one batch; returns how many events left."""
        after = self._claim_floor()
        self._last_claim_from_head = after is None
        self._behind = False  # until this claim is published: a failed one sweeps next
        async with self._pool.acquire() as conn, claiming(conn):
            # Deleted now, gone at commit, which waits for the broker's acknowledgements: if
            # they fail, the rollback leaves the rows for the next attempt.
            rows = await claim(conn, self._claim_rows, after)
            if not rows:
                return 0
            rows.sort(key=lambda r: r["id"])
            await asyncio.gather(*await self._send(rows))
            oldest = min(r["created"] for r in rows)
            self._metrics.outbox_wait.labels(self._service).observe(max(time.time() - oldest, 0.0))
        self._behind = len(rows) == self._claim_rows
        self._published_up_to = max(self._published_up_to or 0, rows[-1]["id"])
        published = Counter(topic for r in rows for topic in r["topics"])
        for topic, count in published.items():
            self._metrics.published.labels(self._service, topic).inc(count)
        return published.total()

    def _claim_floor(self) -> int | None:
        """The id to claim past, or None to claim from the head."""
        now = time.monotonic()
        floor = self._published_up_to
        if self._behind and floor is not None and now - self._swept_at < SWEEP_EVERY_S:
            return floor
        self._swept_at = now
        return None

    async def _send(self, rows: Sequence[asyncpg.Record]) -> list[asyncio.Future[object]]:
        """Hand the rows to the producer as one record batch per partition, in id order within
        each; returns the futures of their acknowledgements.

        A batch per partition, not a send() per event: send() costs ~20 us of Python each
        (a future, a partitioner call, accumulator bookkeeping), which showed in profiles.
        Partitions are chosen as the producer's own partitioner chooses them (murmur2 of the
        key, as Java clients do), so keys land where they always did."""
        groups: dict[tuple[str, int], list[tuple[bytes | None, bytes]]] = {}
        partitions: dict[str, list[int]] = {}
        for r in rows:
            events = zip(r["topics"], r["keys"], r["payloads"], strict=True)
            for logical, text_key, payload in events:
                topic = topics.physical(self._prefix, logical)
                if topic not in partitions:
                    partitions[topic] = sorted(await self._producer.partitions_for(topic))
                parts = partitions[topic]
                if text_key is None:
                    key, partition = None, self._partitioner(None, parts, parts)
                else:
                    key = text_key.encode()
                    partition = parts[key_partition(key, len(parts))]
                groups.setdefault((topic, partition), []).append((key, payload.encode()))
        futures: list[asyncio.Future[object]] = []
        for (topic, partition), messages in groups.items():
            batch = self._producer.create_batch()
            for key, value in messages:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full
                    futures.append(await self._send_batch(batch, topic, partition))
                    batch = self._producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        raise ValueError(f"an outbox event of {len(value)} bytes exceeds a batch")
            futures.append(await self._send_batch(batch, topic, partition))
        return futures

    async def _send_batch(
        self, batch: BatchBuilder, topic: str, partition: int
    ) -> asyncio.Future[object]:
        # Closed: the producer sends a closed batch at once; an open one waits out linger_ms
        # (5 ms, for single sends) in case send() adds to it, which nothing here does.
        batch.close()
        future: asyncio.Future[object] = await self._producer.send_batch(
            batch, topic, partition=partition
        )
        return future

    async def _refresh_backlog(self, published: int) -> None:
        now = time.monotonic()
        if published == 0 and self._last_claim_from_head:
            # Nothing left to claim (but rows another replica holds): no count needed, which
            # would cost an idle relay a round trip every poll.
            self._last_backlog_check = now
            self._metrics.outbox_backlog.labels(self._service).set(0)
            return
        if now - self._last_backlog_check < 1.0:
            return
        self._last_backlog_check = now
        backlog = await events_waiting(self._pool)
        self._metrics.outbox_backlog.labels(self._service).set(backlog)
