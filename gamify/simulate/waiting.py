"""What the simulator waits for: a condition on the database, polled through its restarts and
cuts (the fault suite makes both), and a consumer group's committed offsets reaching the ends
of some topics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from gamify.launcher import SERVICES, service_inputs
from shared import topics
from shared.kafka_clients import running

log = logging.getLogger(__name__)


async def poll_database(
    database_url: str, check: Callable[[asyncpg.Connection], Any], what: str, limit_s: float
) -> None:
    """Until `check(conn)` is true; a database away meanwhile is connected to again."""
    deadline = time.monotonic() + limit_s
    conn: asyncpg.Connection | None = None
    try:
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(database_url, timeout=5)
                if await check(conn):
                    return
            except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
                pass
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.InternalClientError,  # a connection cut mid-operation
                TimeoutError,
            ):
                if conn is not None:
                    conn.terminate()
                conn = None  # the database is away (a fault test, a restart): try again
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulation: timed out waiting for {what}")
            await asyncio.sleep(0.1)
    finally:
        if conn is not None and not conn.is_closed():
            await conn.close()


async def wait_group_caught_up(
    bootstrap: str, prefix: str, group: str, logical_topics: Sequence[str], limit_s: float = 120
) -> None:
    """Until the group's committed offsets reach the ends of these topics. A broker connection
    cut meanwhile (the fault suite cuts them) is tried again."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if await _caught_up(bootstrap, f"{prefix}{group}", prefix, logical_topics):
                return
        except (OSError, KafkaError) as err:
            log.warning("simulation: reading the %s group's offsets failed (%r)", group, err)
        await asyncio.sleep(0.2)
    raise TimeoutError(f"simulation: the {group} group did not take in {', '.join(logical_topics)}")


async def _caught_up(bootstrap: str, group_id: str, prefix: str, names: Sequence[str]) -> bool:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    async with running(consumer):
        tps = []
        for topic in names:
            name = topics.physical(prefix, topic)
            tps += [TopicPartition(name, p) for p in await topics.partitions_of(bootstrap, name)]
        ends = await consumer.end_offsets(tps)
        return not [tp for tp in tps if (await consumer.committed(tp) or 0) < ends[tp]]


INPUTS_OF = {name: set(service_inputs(name)) for name in SERVICES}
LIMIT_S = 120.0


async def caught_up(database_url: str, sent: Mapping[str, int]) -> None:
    """Until every service has taken in every event of its topics sent so far (`sent`: how
    many per topic)."""

    async def check(conn: asyncpg.Connection) -> bool:
        for schema, inputs in INPUTS_OF.items():
            expected = sum(sent.get(t, 0) for t in inputs)
            have = await conn.fetchval(f"SELECT count(*) FROM {schema}.inbox")
            if have < expected:
                return False
        return True

    await poll_database(database_url, check, "the services to catch up", LIMIT_S)


async def nudges_decided(database_url: str, camp: str, day: int | None, now: datetime) -> None:
    """Until the camp day has started (None: after the camp) and every nudge due by `now` is
    decided and published."""

    async def check(conn: asyncpg.Connection) -> bool:
        started = day is None or await conn.fetchval(
            "SELECT 1 FROM nudges.rollovers WHERE camp_id = $1 AND day = $2", camp, day
        )
        pending = await conn.fetchval(
            "SELECT count(*) FROM nudges.nudges WHERE camp_id = $1 AND status = 'pending'"
            " AND due_at <= $2",
            camp,
            now,
        )
        outbox = await conn.fetchval("SELECT count(*) FROM nudges.outbox")
        return bool(started) and pending == 0 and outbox == 0

    await poll_database(
        database_url, check, "the day's reminders to be decided and published", LIMIT_S
    )


async def weeks_settled(
    database_url: str, bootstrap: str, prefix: str, camp: str, days: int
) -> None:
    """Until every contest week of the camp is settled and the points service has consumed
    every contest result and gift published (it pays prizes and gifts from them)."""
    weeks = -(-days // 7)

    async def check(conn: asyncpg.Connection) -> bool:
        n = await conn.fetchval("SELECT count(*) FROM contests.weeks WHERE camp_id = $1", camp)
        points_behind = await conn.fetchval("SELECT count(*) FROM points.outbox")
        contests_behind = await conn.fetchval("SELECT count(*) FROM contests.outbox")
        return bool(n == weeks and points_behind == 0 and contests_behind == 0)

    await poll_database(database_url, check, "every contest week to be settled", LIMIT_S)
    await wait_group_caught_up(bootstrap, prefix, "gamify-points", [topics.CONTESTS, topics.GIFTS])
