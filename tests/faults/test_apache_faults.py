"""What only a real broker can show, on Apache Kafka (GAMIFY_TEST_KAFKA=apache): the broker
killed mid-backlog and restarted on its log, a rebalance storm of consumer-group members, and
the relay's idempotent producer. Each case drains and is audited with zero differences."""

from __future__ import annotations

import asyncio
import random
import subprocess
from pathlib import Path

import pytest

from shared.apache_kafka import ApacheKafka, kafka_jars
from shared.embedded import free_port
from shared.settings import Settings
from tests.faults.harness import Fleet, audit, play_with, small_camp
from tests.faults.test_fault_suite import record
from tests.helpers import TEST_KAFKA

pytestmark = pytest.mark.skipif(TEST_KAFKA != "apache", reason="needs Apache Kafka (apache run)")


async def test_the_broker_killed_mid_backlog_and_restarted_on_its_log(
    settings: Settings, tmp_path: Path
) -> None:
    broker = ApacheKafka(free_port(), data_dir=tmp_path / "kafka")
    await asyncio.to_thread(broker.start)
    own = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
    fleet = Fleet(own, tmp_path)
    try:
        await fleet.start()
    except BaseException:
        broker.stop()
        raise
    killed: list[float] = []

    async def kill_and_restart(done: asyncio.Event) -> None:
        await asyncio.sleep(3.0)
        broker.kill()  # SIGKILL: no controlled shutdown, unflushed pages lost to the OS only
        killed.append(1)
        await asyncio.sleep(3.0)
        await asyncio.to_thread(broker.start)

    try:
        await play_with(own, small_camp(21, students=40), kill_and_restart)
        assert killed and fleet.all_alive()  # the services waited for the broker
        result = await audit(own)
        record("Apache Kafka SIGKILLed and restarted on its log", result.summary())
    finally:
        fleet.stop()
        broker.stop()


async def test_a_rebalance_storm_of_three_processes_with_two_consumers_each(
    settings: Settings, tmp_path: Path
) -> None:
    fleet = Fleet(settings, tmp_path, replicas={"points": 3}, GAMIFY_CONSUMERS="2")
    await fleet.start()
    rng = random.Random(5)

    async def storm(done: asyncio.Event) -> None:
        while not done.is_set() and fleet.restarts < 10:
            await asyncio.sleep(rng.uniform(0.5, 1.0))
            if done.is_set():
                break
            i = rng.randrange(3)
            fleet.procs[("points", i)].stop()  # leaves the group
            await asyncio.sleep(rng.uniform(0.2, 0.5))
            await fleet.restart("points", i)  # and joins again

    try:
        # The camp can only finish when every event is taken in: no partition stays stuck.
        await play_with(settings, small_camp(22, students=90, days=12), storm)
        assert fleet.restarts >= 4
        result = await audit(settings)
        record(f"rebalance storm x{fleet.restarts}", result.summary())
    finally:
        fleet.stop()


async def test_the_relay_publishes_with_an_idempotent_producer(
    settings: Settings, kafka: ApacheKafka, tmp_path: Path
) -> None:
    """Each batch the relay wrote carries a producer id: the broker dedupes its retries."""
    fleet = Fleet(settings, tmp_path)
    await fleet.start()
    try:
        await play_with(settings, small_camp(23, students=5, days=2))
    finally:
        fleet.stop()
    log_dir = kafka.data_dir / "log"
    segments = sorted(log_dir.glob(f"{settings.topic_prefix}gamify.points-*/*.log"))
    files = ",".join(str(s) for s in segments)
    dumped = subprocess.run(
        ["java", "-cp", f"{kafka_jars()}/*", "kafka.tools.DumpLogSegments", "--files", files],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ids = {
        line.split("producerId:")[1].split()[0]
        for line in dumped.splitlines()
        if "producerId:" in line
    }
    assert ids and "-1" not in ids, dumped[-2000:]
