from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner

from shared import outbox, topics
from shared.db import apply_migrations, create_pool
from shared.events import Gift
from shared.metrics import ServiceMetrics
from shared.outbox import OutboxRelay, OutMessage, derived_event_id, enqueue
from shared.service import PLUMBING_MIGRATIONS
from shared.settings import Settings
from tests.helpers import Bus, wait_for


def gift(n: int) -> OutMessage:
    event = Gift(
        event_id=derived_event_id("gift", n),
        occurred_at=datetime.now(UTC),
        camp_id="c",
        student_id=f"s{n}",
        gift_id="welcome-back",
        reason="test",
    )
    return OutMessage(topics.GIFTS, f"s{n}", event)


@contextlib.asynccontextmanager
async def relay_parts(
    settings: Settings, schema: str
) -> AsyncIterator[tuple[asyncpg.Pool, AIOKafkaProducer]]:
    """A pool on a schema with the outbox, the gifts topic (3 partitions) and a producer."""
    pool = await create_pool(settings.database_url, schema, 4)
    await apply_migrations(pool, schema, [("plumbing", PLUMBING_MIGRATIONS)])
    await topics.ensure_topics(
        settings.kafka_bootstrap, [topics.physical(settings.topic_prefix, topics.GIFTS)], 3
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=False
    )
    await producer.start()
    try:
        yield pool, producer
    finally:
        await producer.stop()
        await pool.close()


def test_derived_event_ids_are_deterministic_and_distinct() -> None:
    assert derived_event_id("a", 1) == derived_event_id("a", 1)
    assert derived_event_id("a", 1) != derived_event_id("a", 2)
    assert derived_event_id("a:b", "c") != derived_event_id("a", "b:c")


@pytest.mark.parametrize(
    "parts", [("points", "camp", "s1", "checkin", "day:3"), ("gift", 7), ("", "é 学", 2.5), ()]
)
def test_derived_event_ids_are_the_uuid5_of_their_parts(parts: tuple[object, ...]) -> None:
    """The fast computation gives exactly the ids uuid5 gave (ids already published hold)."""
    expected = uuid.uuid5(outbox._NAMESPACE, "\x1f".join(str(p) for p in parts))
    assert derived_event_id(*parts) == str(expected)


async def test_two_relays_publish_every_row_and_empty_the_outbox(
    settings: Settings, bus: Bus
) -> None:
    async with relay_parts(settings, "relaytest") as (pool, producer):
        metrics = ServiceMetrics("relaytest")
        relays = [
            OutboxRelay("relaytest", pool, producer, metrics, settings.topic_prefix, claim_rows=4)
            for _ in range(2)
        ]
        for first in range(0, 300, 10):  # 30 transactions' rows of 10 events
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, [gift(n) for n in range(first, first + 10)])
        tasks = [asyncio.create_task(r.run()) for r in relays]
        try:
            out = await bus.read(topics.GIFTS, until=lambda m: len(m) >= 300)
            assert sorted(m["student_id"] for m in out) == sorted(f"s{n}" for n in range(300))
            assert len({m["event_id"] for m in out}) == 300
            assert all(m["key"] == m["student_id"] for m in out)

            async def emptied() -> bool:
                return await pool.fetchval("SELECT count(*) FROM outbox") == 0

            # a claim's rows are deleted at its commit, just after the broker's
            # acknowledgements: the reader can see the last events first
            await wait_for(emptied, timeout=10, what="the outbox emptied")
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_rolled_back_transaction_publishes_nothing(settings: Settings) -> None:
    pool = await create_pool(settings.database_url, "relaytest", 2)
    await apply_migrations(pool, "relaytest", [("plumbing", PLUMBING_MIGRATIONS)])
    try:
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await enqueue(conn, [gift(1)])
            await tx.rollback()
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await pool.close()


async def test_the_relay_keeps_each_key_on_its_partition_and_in_order(settings: Settings) -> None:
    """Rows leave as one record batch per partition: keys must still land where the producer's
    own partitioner puts them (as Java clients would) and keep their order."""
    topic = topics.physical(settings.topic_prefix, topics.GIFTS)
    messages = []
    for seq in range(200):
        n = seq % 20  # 20 students, 10 events each, interleaved
        event = Gift(
            event_id=derived_event_id("order", seq),
            occurred_at=datetime.now(UTC),
            camp_id="c",
            student_id=f"s{n}",
            gift_id="welcome-back",
            reason=str(seq),
        )
        messages.append(OutMessage(topics.GIFTS, f"s{n}", event))
    async with relay_parts(settings, "relayorder") as (pool, producer):
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, messages)
        relay = OutboxRelay(
            "relayorder", pool, producer, ServiceMetrics("relayorder"), settings.topic_prefix, 64
        )
        while await relay.publish_once():
            pass
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            seen: list[tuple[int, str, int]] = []
            while len(seen) < 200:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for r in records:
                        body = json.loads(r.value)
                        seen.append((r.partition, r.key.decode(), int(body["reason"])))
            partitioner = DefaultPartitioner()
            everyone = sorted(await producer.partitions_for(topic))
            for partition, key, _ in seen:
                assert partition == partitioner(key.encode(), everyone, everyone)
            for n in range(20):
                order = [seq for _, key, seq in seen if key == f"s{n}"]
                assert order == sorted(order) and len(order) == 10
        finally:
            await consumer.stop()


class _RefusingProducer:
    """A producer whose acknowledgements fail (the broker refused or timed out)."""

    def __init__(self, real: AIOKafkaProducer) -> None:
        self._real = real

    def create_batch(self) -> object:
        return self._real.create_batch()

    async def partitions_for(self, topic: str) -> set[int]:
        partitions: set[int] = await self._real.partitions_for(topic)
        return partitions

    async def send_batch(
        self, batch: object, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(KafkaTimeoutError())
        return failed


async def test_rows_whose_publishing_failed_stay_until_a_later_pass_publishes_them(
    settings: Settings, bus: Bus
) -> None:
    """Rows are deleted in the transaction that waits for the broker's acknowledgements: a
    failed acknowledgement rolls the deletion back, and nothing is lost."""
    async with relay_parts(settings, "relayfail") as (pool, producer):
        for first in range(0, 30, 10):
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, [gift(n) for n in range(first, first + 10)])
        refusing = OutboxRelay(
            "relayfail",
            pool,
            _RefusingProducer(producer),
            ServiceMetrics("relayfail"),
            settings.topic_prefix,
            claim_rows=2,
        )
        with pytest.raises(KafkaTimeoutError):
            await refusing.publish_once()
        assert await outbox.events_waiting(pool) == 30
        relay = OutboxRelay(
            "relayfail", pool, producer, ServiceMetrics("relayfail"), settings.topic_prefix, 2
        )
        assert await relay.publish_once() == 20
        assert await relay.publish_once() == 10
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
        out = await bus.read(topics.GIFTS, until=lambda m: len(m) >= 30)
        assert sorted(m["student_id"] for m in out) == sorted(f"s{n}" for n in range(30))


class _HeldProducer:
    """A producer that holds its first send until released: a relay caught mid-publish."""

    def __init__(self, real: AIOKafkaProducer) -> None:
        self._real = real
        self.sending = asyncio.Event()
        self.release = asyncio.Event()

    def create_batch(self) -> object:
        return self._real.create_batch()

    async def partitions_for(self, topic: str) -> set[int]:
        partitions: set[int] = await self._real.partitions_for(topic)
        return partitions

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.sending.set()
        await self.release.wait()
        future: asyncio.Future[Any] = await self._real.send_batch(batch, topic, partition=partition)
        return future


async def test_rows_committed_while_the_relay_publishes_leave_without_waiting_a_poll(
    settings: Settings,
) -> None:
    """A wake-up that arrives while the relay is busy publishing is not lost: the relay goes
    on to the new rows at once, not after its idle poll (here a minute)."""
    async with relay_parts(settings, "relaywake") as (pool, producer):
        held = _HeldProducer(producer)
        relay = OutboxRelay(
            "relaywake",
            pool,
            held,  # type: ignore[arg-type]
            ServiceMetrics("relaywake"),
            settings.topic_prefix,
            idle_poll_s=60,
        )
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, [gift(1)])
        task = asyncio.create_task(relay.run())
        try:
            await asyncio.wait_for(held.sending.wait(), 10)  # gift 1 is being published
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, [gift(2)])
            relay.wake()  # as the processor does after its commit
            held.release.set()

            async def published() -> bool:
                return await pool.fetchval("SELECT count(*) FROM outbox") == 0

            await wait_for(published, timeout=10, what="gift 2 published without a poll")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


FILL_30000 = (  # 30,000 outbox rows of one event of about 300 bytes
    "INSERT INTO outbox (topics, keys, payloads)"
    " SELECT ARRAY['t'], ARRAY['k' || i], ARRAY[repeat('x', 300)] FROM generate_series(1, 30000) i"
)


class Explaining:
    """A connection whose fetch explains the statement instead of running it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.plan = ""

    async def execute(self, sql: str, *args: object) -> str:
        return await self.conn.execute(sql, *args)  # type: ignore[no-any-return]

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        rows = await self.conn.fetch(f"EXPLAIN {sql}", *args)
        self.plan = "\n".join(r[0] for r in rows)
        return []


async def test_the_claim_reads_the_index_even_when_statistics_say_the_outbox_is_empty(
    settings: Settings,
) -> None:
    """Autovacuum took the outbox's statistics with 2 live rows among thousands of dead ones;
    a burst then fills it. The claim must still walk the primary key, not read the table."""
    schema = f"claim_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(settings.database_url, schema, 1)
    try:
        await apply_migrations(pool, schema, [("plumbing", PLUMBING_MIGRATIONS)])
        await pool.execute(FILL_30000)
        await pool.execute("DELETE FROM outbox WHERE id > (SELECT min(id) + 1 FROM outbox)")
        await pool.execute("ANALYZE outbox")
        await pool.execute(FILL_30000)
        async with pool.acquire() as conn, outbox.claiming(conn):
            explaining = Explaining(conn)
            await outbox.claim(explaining, 500)  # type: ignore[arg-type]
        assert "Seq Scan" not in explaining.plan, explaining.plan
        assert "Index Scan using outbox_pkey" in explaining.plan
    finally:
        await pool.close()


async def test_rows_committed_late_below_the_relays_floor_are_still_published(
    settings: Settings, bus: Bus
) -> None:
    """A transaction draws its ids first and commits last. While behind, the relay claims past
    the highest id it published; once a claim comes back short it claims from the head again,
    and finds the late rows."""
    async with relay_parts(settings, "relaylate") as (pool, producer):
        async with pool.acquire() as late:
            committing = late.transaction()
            await committing.start()
            for n in range(10):  # a row each: ids 1-10, not yet committed
                await enqueue(late, [gift(n)])
            async with pool.acquire() as conn, conn.transaction():
                for n in range(10, 110):  # ids 11-110
                    await enqueue(conn, [gift(n)])
            relay = OutboxRelay(
                "relaylate", pool, producer, ServiceMetrics("relaylate"), settings.topic_prefix, 50
            )
            assert await relay.publish_once() == 50  # 11-60, from the head
            assert await relay.publish_once() == 50  # 61-110, past 60
            await committing.commit()
        assert await relay.publish_once() == 0  # past 110: the late rows are below it
        assert await relay.publish_once() == 10  # short, so from the head: 1-10
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
        out = await bus.read(topics.GIFTS, until=lambda m: len(m) >= 110)
        assert sorted(m["student_id"] for m in out) == sorted(f"s{n}" for n in range(110))


class Undo(Exception):
    """Raised to roll a claiming transaction back."""


class Measuring(Explaining):
    """A connection whose fetch runs the claim under EXPLAIN ANALYZE and keeps how many pages
    its walk of the index (the scan under the row locks) touched."""

    pages = 0

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        explained = await self.conn.fetchval(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args
        )
        walk = _node(json.loads(explained)[0]["Plan"], "LockRows")["Plans"][0]
        self.pages = walk["Shared Hit Blocks"] + walk["Shared Read Blocks"]
        return []


def _node(plan: dict[str, Any], node_type: str) -> dict[str, Any]:
    if plan["Node Type"] == node_type:
        return plan
    for child in plan.get("Plans", []):
        with contextlib.suppress(LookupError):
            return _node(child, node_type)
    raise LookupError(node_type)


async def test_a_claim_past_the_floor_skips_the_rows_an_old_snapshot_keeps_at_the_head(
    settings: Settings,
) -> None:
    """While a transaction holds an old snapshot, the index entries of rows deleted since stay
    live, and a claim from the head visits each of their rows. A claim past the floor starts
    after them."""
    schema = f"floor_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(settings.database_url, schema, 2)
    old = await asyncpg.connect(settings.database_url)
    try:
        await apply_migrations(pool, schema, [("plumbing", PLUMBING_MIGRATIONS)])
        await pool.execute(FILL_30000)
        await old.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        await old.fetchval("SELECT 1")  # the snapshot, taken before the deletion
        first = await pool.fetchval("SELECT min(id) FROM outbox")
        await pool.execute("DELETE FROM outbox WHERE id < $1", first + 20000)  # published
        pages = {}
        for after in (None, first + 19999):
            async with pool.acquire() as conn:
                measuring = Measuring(conn)
                with contextlib.suppress(Undo):  # EXPLAIN ANALYZE deletes: roll it back
                    async with outbox.claiming(conn):
                        await outbox.claim(measuring, 500, after)  # type: ignore[arg-type]
                        raise Undo
            pages[after] = measuring.pages
        assert pages[first + 19999] * 10 < pages[None], pages
    finally:
        await old.close()
        await pool.close()
