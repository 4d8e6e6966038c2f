"""The benchmark command runs end to end on a small backlog and writes results.json in the
documented shape (the figures themselves are for the README, never asserted as timings)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from bench import workload
from bench.__main__ import main
from bench.drain import settle
from bench.handler import measure
from bench.processes import cpu_seconds
from bench.warmth import compiler_seconds
from shared.apache_kafka import ApacheKafka
from shared.embedded import EmbeddedKafka
from tests.helpers import TEST_KAFKA


def test_bench_writes_every_figure_for_a_small_backlog(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    argv = ["--checkins", "10500", "--steady", "2", "--services", "points", "--no-scaling"]
    argv += ["--warm-up", "1"]  # at most 1 s of unmeasured probes before each latency phase
    assert main([*argv, "--kafka", TEST_KAFKA, "--out", str(out)]) == 0
    sections = json.loads(out.read_text())
    assert list(sections) == [TEST_KAFKA]  # one section per broker
    doc = sections[TEST_KAFKA]
    points = doc["services"]["points"]
    # check-ins, the camp, one in ten contest events, the enrolments (display names)
    assert points["events"] == 10_500 + 1 + 50 + 10_000
    assert points["events_per_s"] > 0 and points["latency_samples"] == 2000
    assert points["probes_per_s"] == 1000  # a check-in a probe (badges: two events, 500/s)
    assert 0 < points["p50_ms"] <= points["p99_ms"]
    assert points["rss_mb_start"] > 0 and points["rss_mb_end"] > 0
    assert doc["baselines"]["raw_consume_per_s"] > 0 and doc["baselines"]["ceiling_per_s"] > 0
    # what the ceiling loop itself cost, the floor of a service's cost per event
    assert doc["baselines"]["ceiling_loop_us_per_event"] > 0
    assert doc["baselines"]["ceiling_postgres_us_per_event"] > 0
    assert 0 < doc["baselines"]["bus_p50_ms"] <= doc["baselines"]["bus_p99_ms"]
    assert [w[0] for w in points["latency_timeline"]] == [0.0]  # 5-second windows of 2 s
    assert set(points["cores_used"]) == {"service", "postgres", "broker", "bench"}
    assert all(v >= 0 for v in points["cores_used"].values())
    assert doc["machine"]["cpus"] >= 1
    assert doc["run"]["probe_linger_ms"] == 5 and doc["run"]["reader_wait_ms"] == 20
    assert doc["run"]["warm_up_max_s"] == 1
    assert 1 <= points["steady_warmup_s"] < 5 and doc["baselines"]["bus_warmup_s"] >= 1
    assert points["steady_broker_compiler_cores"] >= 0
    assert points["rss_mb_by_minute"] == []  # a 2-second phase has no memory verdict
    # the trickle's batches: 2,000 probes and their warm-up made some, each of some records
    assert points["steady_batch"]["per_s"] > 0 and points["steady_batch"]["records"] >= 1
    stages = points["steady_stage_ms"]  # where a probe's time went, each stage's mean
    assert set(stages) == {"taken", "applied", "batch", "outbox"}
    assert all(ms is not None and ms >= 0 for ms in stages.values()), stages
    assert stages["taken"] <= stages["applied"]


async def test_the_handler_benchmark_pays_every_checkin_and_reports_both_cpus(
    pg_admin_url: str,
) -> None:
    figures = await measure(pg_admin_url, 2_000, 100)
    assert figures["events"] == workload.expected_inputs("points", 2_000) - 1  # but the camp
    assert figures["outputs"] >= 2_000  # a check-in pays once each (2,000 students, day 1)
    assert figures["events_per_s"] > 0 and figures["python_us_per_event"] > 0
    assert figures.get("postgres_us_per_event", 1) > 0  # measured when the server is local


@pytest.mark.parametrize("service", ["badges", "nudges", "contests"])
async def test_the_handler_benchmark_runs_each_service_batch_step(
    pg_admin_url: str, service: str
) -> None:
    figures = await measure(pg_admin_url, 10_500, 500, service)
    assert figures["events"] == workload.expected_inputs(service, 10_500) - 1  # but the camp
    assert figures["applied"] == figures["events"]  # none held, refused or dead-lettered
    assert figures["python_us_per_event"] > 0


async def test_postgres_cpu_counts_backends_that_have_exited(pg_admin_url: str) -> None:
    """The pool replaces its connections: a backend's CPU stays counted after it exits."""
    conn = await asyncpg.connect(pg_admin_url)
    await conn.fetchval("SELECT count(*) FROM generate_series(1, 3000000)")  # ~0.2 s of CPU
    with_it = cpu_seconds([])["postgres"]
    await conn.close()
    await asyncio.sleep(0.5)  # the postmaster reaps it
    assert cpu_seconds([])["postgres"] >= with_it - 0.02


async def test_settling_leaves_no_vacuum_or_checkpoint_for_the_next_drain(
    database_url: str,
) -> None:
    """What an earlier phase wrote is vacuumed and analyzed, and a checkpoint taken, before a
    drain: neither autovacuum nor a checkpoint's page images fall inside it by chance."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "CREATE TABLE earlier AS SELECT g AS n FROM generate_series(1, 20000) g;"
            " DELETE FROM earlier WHERE n % 2 = 0"
        )
        checkpoints = await conn.fetchval("SELECT num_requested FROM pg_stat_checkpointer")
        await settle([database_url])
        stats = await conn.fetchrow(
            "SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = 'earlier'"
        )
        assert stats["last_vacuum"] is not None and stats["last_analyze"] is not None
        assert await conn.fetchval("SELECT num_requested FROM pg_stat_checkpointer") > checkpoints
    finally:
        await conn.close()


def test_the_warm_up_reads_the_brokers_jit_compiler(kafka: EmbeddedKafka | ApacheKafka) -> None:
    """The JVM's compiler threads are found by name: a started broker has compiled some of
    its code. (The embedded broker has none: its warm-up is the minimum.)"""
    if not isinstance(kafka, ApacheKafka):
        pytest.skip("the embedded broker has no JIT compiler")
    assert compiler_seconds() > 0
