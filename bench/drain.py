"""The throughput phases: the backlog, its raw consume and the ceiling loop, and each
service's drain until every input is decided and every output published."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import workload
from bench.common import POLL_S, say
from bench.processes import Replicas, cpu_seconds, cpu_share
from gamify.simulate.stack import RunPlace
from shared import topics


async def produce_backlog(place: RunPlace, checkins: int) -> dict[str, int]:
    producer = AIOKafkaProducer(
        bootstrap_servers=place.bootstrap, linger_ms=20, max_batch_size=1 << 20, acks=1
    )
    await producer.start()
    counts: dict[str, int] = {}
    started = time.perf_counter()
    try:
        pending = []
        for topic, key, value in workload.backlog(checkins):
            pending.append(
                await producer.send(topics.physical(place.prefix, topic), value, key=key)
            )
            counts[topic] = counts.get(topic, 0) + 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
                done = sum(counts.values())
                say(f"  produced {done:,} ({done / (time.perf_counter() - started):,.0f}/s)")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return counts


@dataclass(frozen=True)
class Drained:
    per_s: float
    elapsed_s: float
    cores: dict[str, float]  # CPU used by role meanwhile, in cores
    batch_records: float  # records per batch, on average
    batch_ms: float  # time from a batch's records in hand to its database commit, on average
    # Share of the drain the consumers spent inside batches (summed over replicas): near 1
    # per replica, the consumer loop is the limit; lower, it waited for records.
    batch_busy: float
    held: int  # events parked until their camp was taken in (points)
    # Records taken in again (a rebalance hands a partition over before the offsets of the
    # batches its member had fetched are committed): work done twice, the inbox's no-ops
    redelivered: int = 0


FIRST_POLL_S = 0.05


async def wait_taken_in(replicas: Replicas, expected: int, quiet: bool = False) -> Drained:
    """Wait until `expected` records are decided and every output they caused has left the
    outbox; the rate from the first decided record on."""
    pids = [p.pid for p in replicas.procs]
    async with aiohttp.ClientSession() as http:
        first: tuple[float, float, dict[str, float]] | None = None
        # the poll before: a drain shorter than one poll interval is timed from it, an upper
        # bound on its duration (so a lower bound on its rate) rather than a rate of zero
        before = (time.perf_counter(), 0.0, cpu_seconds(pids))
        last_report = time.monotonic()
        while True:
            seen, again = await replicas.taken_in(http)
            now = time.perf_counter()
            if first is None and seen > 0:
                first = before if seen >= expected else (now, seen, cpu_seconds(pids))
            elif first is None:
                before = (now, seen, cpu_seconds(pids))
            if seen >= expected:
                break
            if not quiet and time.monotonic() - last_report > 5:
                say(f"  {replicas.name}: {seen:,.0f} / {expected:,}")
                last_report = time.monotonic()
            # Till the first record is decided, often: the records decided before the poll
            # that first sees some are left out of the rate, and a short drain (a soak's
            # 20,000 contest events take half a second) would be timed on its tail alone.
            await asyncio.sleep(POLL_S if first else FIRST_POLL_S)
        count, records, seconds = await replicas.batches(http)
        held = await replicas.held(http)
    assert first is not None
    await replicas.wait_published(quiet)
    now = time.perf_counter()
    elapsed = max(now - first[0], 1e-3)
    cores = cpu_share(first[2], cpu_seconds(pids), elapsed)
    return Drained(
        (seen - first[1]) / elapsed,
        elapsed,
        cores,
        batch_records=round(records / max(count, 1), 1),
        batch_ms=round(seconds / max(count, 1) * 1000, 1),
        batch_busy=round(seconds / elapsed, 2),
        held=held,
        redelivered=int(again),
    )


async def raw_consume(place: RunPlace) -> float:
    """The bus's limit: read and JSON-decode the check-in backlog, no work."""
    name = topics.physical(place.prefix, topics.CHECKINS)
    consumer = AIOKafkaConsumer(bootstrap_servers=place.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(name, p) for p in await topics.partitions_of(place.bootstrap, name)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        total = sum(ends.values())
        n, started = 0, time.perf_counter()
        while n < total:
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for r in records:
                    json.loads(r.value)
                n += sum(1 for _ in records)
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Ceiling:
    per_s: float
    loop_us: float  # this process's CPU per event (the loop's Python and its Kafka client)
    postgres_us: float


async def settle(database_urls: Iterable[str]) -> float:
    """Vacuum and analyze what the run has written so far, then checkpoint; the seconds it
    took. As pgbench vacuums before its runs: an autovacuum of an earlier phase's tables, or a
    checkpoint its writes began (after which every page changed is written whole to the WAL
    once), would otherwise fall inside the next drain at random and count as that service's
    PostgreSQL CPU."""
    started = time.perf_counter()
    urls = list(dict.fromkeys(database_urls))
    for url in urls:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("VACUUM (ANALYZE)")
        finally:
            await conn.close()
    if urls:  # a checkpoint is the server's, whichever database asks
        conn = await asyncpg.connect(urls[0])
        try:
            await conn.execute("CHECKPOINT")
        except asyncpg.InsufficientPrivilegeError:
            say("  (no CHECKPOINT: the role lacks pg_checkpoint)")
        finally:
            await conn.close()
    return time.perf_counter() - started


async def ceiling(place: RunPlace) -> Ceiling:
    """The architecture's ceiling: batches of 500, inbox insert and one aggregate upsert per
    student in one transaction, then the offset commit; and what it cost per event (the floor
    a service's cost per event is read against)."""
    conn = await asyncpg.connect(place.database_url)
    await conn.execute(
        "CREATE SCHEMA IF NOT EXISTS ceiling;"
        " CREATE TABLE IF NOT EXISTS ceiling.inbox (event_id text PRIMARY KEY);"
        " CREATE TABLE IF NOT EXISTS ceiling.agg (student_id text PRIMARY KEY, n bigint NOT NULL)"
    )
    name = topics.physical(place.prefix, topics.CHECKINS)
    consumer = AIOKafkaConsumer(
        name,
        bootstrap_servers=place.bootstrap,
        group_id=f"{place.prefix}bench-ceiling",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
    )
    await consumer.start()
    try:
        total = 0
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100, max_records=1)  # joins; may return a batch
        parts = list(consumer.assignment())
        total = sum((await consumer.end_offsets(parts)).values())
        for tp in parts:
            consumer.seek(tp, 0)
        n, started, cpu = 0, time.perf_counter(), cpu_seconds([])
        while n < total:
            for records in (await consumer.getmany(timeout_ms=500, max_records=500)).values():
                events = [json.loads(r.value) for r in records]
                per_student: dict[str, int] = {}
                for e in events:
                    per_student[e["student_id"]] = per_student.get(e["student_id"], 0) + 1
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO ceiling.inbox SELECT unnest($1::text[])"
                        " ON CONFLICT DO NOTHING",
                        [e["event_id"] for e in events],
                    )
                    await conn.execute(
                        "INSERT INTO ceiling.agg SELECT * FROM unnest($1::text[], $2::bigint[])"
                        " ON CONFLICT (student_id) DO UPDATE SET n = agg.n + excluded.n",
                        list(per_student),
                        list(per_student.values()),
                    )
                await consumer.commit()
                n += len(records)
        elapsed, used = time.perf_counter() - started, cpu_seconds([])
        return Ceiling(
            n / elapsed,
            (used["bench"] - cpu["bench"]) / n * 1e6,
            (used["postgres"] - cpu["postgres"]) / n * 1e6,
        )
    finally:
        await consumer.stop()
        await conn.close()
