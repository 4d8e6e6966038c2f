"""What the simulator waits for: a condition on the database, polled through its restarts and
cuts (the fault suite makes both), and a consumer group's committed offsets reaching the ends
of some topics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from shared import topics

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
    await consumer.start()
    try:
        tps = []
        for topic in names:
            name = topics.physical(prefix, topic)
            tps += [TopicPartition(name, p) for p in await topics.partitions_of(bootstrap, name)]
        ends = await consumer.end_offsets(tps)
        return not [tp for tp in tps if (await consumer.committed(tp) or 0) < ends[tp]]
    finally:
        await consumer.stop()
