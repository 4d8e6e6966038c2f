"""Test helpers: publishing input events and reading output topics on the real broker,
scraping metrics, and building contract events."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from shared import topics

if TYPE_CHECKING:
    from shared.service import ServiceRuntime

# Which broker the connected tests run on: the embedded one (default) or Apache Kafka from
# its jars (GAMIFY_TEST_KAFKA=apache). There a missing Java or Maven fails the run, never skips.
TEST_KAFKA = os.environ.get("GAMIFY_TEST_KAFKA", "embedded")

# Every event waiting in a schema's outbox, in the order the relay publishes them.
OUTBOX_EVENTS = (
    "SELECT e.topic, e.key, e.payload FROM outbox,"
    " unnest(topics, keys, payloads) WITH ORDINALITY AS e(topic, key, payload, n) ORDER BY id, n"
)


class Bus:
    """Publishes to and reads from the test's own (prefixed) topics."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self,
        topic: str,
        value: dict[str, Any] | bytes,
        key: str | None = None,
        partition: int | None = None,
    ) -> None:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        if key is None and isinstance(value, dict):
            key = value.get("student_id") or value.get("camp_id")
        await self._producer.send_and_wait(
            topics.physical(self.prefix, topic),
            raw,
            key=key.encode() if key else None,
            partition=partition,
        )

    async def send_many(self, topic: str, values: list[dict[str, Any]]) -> None:
        """Publish many events at once (keyed by student), waiting for all acknowledgements."""
        name = topics.physical(self.prefix, topic)
        futures = [
            await self._producer.send(
                name,
                json.dumps(v).encode(),
                key=str(v.get("student_id") or v.get("camp_id")).encode(),
            )
            for v in values
        ]
        await asyncio.gather(*futures)

    async def read(
        self,
        topic: str,
        until: Callable[[list[dict[str, Any]]], bool] = lambda _m: False,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Every message of `topic` from the start, read until `until(messages)` or timeout."""
        name = topics.physical(self.prefix, topic)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            parts = await topics.partitions_of(self.bootstrap, name)
            deadline = time.monotonic() + timeout
            while not parts and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                parts = await topics.partitions_of(self.bootstrap, name)
            assigned = [TopicPartition(name, p) for p in parts or [0]]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            messages: list[dict[str, Any]] = []
            while not until(messages) and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for r in records:
                        messages.append(
                            {
                                "key": r.key.decode() if r.key else None,
                                "partition": r.partition,
                                "offset": r.offset,
                                **json.loads(r.value),
                            }
                        )
            return messages
        finally:
            await consumer.stop()

    async def read_quiet(self, topic: str, settle: float = 1.5) -> list[dict[str, Any]]:
        """Everything on `topic` once nothing new has arrived for `settle` seconds."""
        return await self.read(topic, timeout=settle)


def free_port_block(count: int) -> int:
    """The first of `count` consecutive ports free now, below the system's ephemeral range
    (32768 and up), where no outgoing connection or other free_port() can take one later."""
    from shared.embedded import port_open

    rng = random.Random()
    while True:
        base = rng.randrange(20_000, 32_000 - count)
        if not any(port_open(base + i) for i in range(count)):
            return base


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout: float = 15.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The /metrics of a service as {(sample name, sorted labels): value}."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        text = await resp.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def metric(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(
        v
        for (n, ls), v in samples.items()
        if n == name and all(dict(ls).get(k) == val for k, val in labels.items())
    )


async def settled(runtime: ServiceRuntime, n_inputs: int) -> None:
    """Wait until `n_inputs` input messages were taken in (applied, duplicate or dead-lettered)
    and the service's outbox is empty."""

    async def done() -> bool:
        s = await scrape(runtime.http_port)
        taken = metric(s, "gamify_events_processed_total") + metric(
            s, "gamify_events_dead_lettered_total"
        )
        return taken >= n_inputs and metric(s, "gamify_outbox_backlog") == 0

    await wait_for(done, 20, f"{n_inputs} inputs taken in")


def new_id(prefix: str = "e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def checkin(
    camp: str,
    student: str,
    day: int,
    event_id: str | None = None,
    occurred_at: str | None = None,
) -> dict[str, Any]:
    """A check-in; made by default at 20:05 on the day itself of a camp like camp()'s default
    (a check-in for a day that has not begun counts for nothing)."""
    when = occurred_at or f"{date(2026, 11, 19) + timedelta(days=day)}T20:05:00+08:00"
    return {
        "event_id": event_id or new_id(),
        "occurred_at": when,
        "camp_id": camp,
        "student_id": student,
        "day": day,
    }


def work(
    camp: str, student: str, submission_id: str, contest_entry: bool = False
) -> dict[str, Any]:
    """A submission (a review or share counts only once its submission is known)."""
    return {
        "event_id": new_id("sub"),
        "occurred_at": "2026-11-20T20:00:00+08:00",
        "camp_id": camp,
        "student_id": student,
        "submission_id": submission_id,
        "assignment_id": f"a-{submission_id}",
        "tier": "practice",
        "title": f"work {submission_id}",
        "url": f"https://example.org/{submission_id}",
        "contest_entry": contest_entry,
    }


def camp(
    camp_id: str,
    days: int = 21,
    starts_on: str = "2026-11-20",
    timezone: str = "Asia/Shanghai",
    lessons: int = 10,
    reminder: str = "20:00",
    occurred_at: str = "2026-11-01T00:00:00+08:00",
    assignments: list[tuple[str, str, int]] | None = None,
) -> dict[str, Any]:
    """A camp; `assignments`: its homework schedule as (assignment_id, tier, due_day)."""
    schedule = (
        {}
        if assignments is None
        else {
            "assignments": [
                {"assignment_id": a, "tier": t, "due_day": d} for a, t, d in assignments
            ]
        }
    )
    return {
        **schedule,
        "event_id": new_id("camp"),
        "occurred_at": occurred_at,
        "camp_id": camp_id,
        "title": f"{camp_id} 训练营",
        "starts_on": starts_on,
        "days": days,
        "timezone": timezone,
        "lessons": lessons,
        "cohort_reminder_time": reminder,
    }


async def send_tick(bus: Bus, now: str) -> None:
    """Move a `GAMIFY_CLOCK=topic` world's clock to `now` (RFC 3339)."""
    await bus.send(topics.CLOCK, {"now": now}, key="clock")


async def checkins_processed(runtime: ServiceRuntime, n: int) -> bool:
    """True once the service has processed (applied or found a duplicate of) n check-ins."""
    samples = await scrape(runtime.http_port)
    return metric(samples, "gamify_events_processed_total", topic=topics.CHECKINS) >= n


async def processed(database_url: str, schema: str, event_ids: list[str]) -> bool:
    """True once the service owning `schema` has taken every one of these events in."""
    conn = await asyncpg.connect(database_url)
    try:
        n = await conn.fetchval(
            f"SELECT count(*) FROM {schema}.inbox WHERE event_id = ANY($1::text[])", event_ids
        )
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()
    return int(n) == len(set(event_ids))
