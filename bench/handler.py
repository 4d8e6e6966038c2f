"""python -m bench.handler: one service's batch step alone, without the broker.

The bench backlog's records for the service go through its BatchProcessor (decode, inbox,
integrity gate, handler, outbox) one batch at a time against PostgreSQL, so the Python CPU and
the database CPU per event are measured without the broker, the relay or the machine's other
load: the tool for comparing two versions of the SQL or the rules within minutes. `--batch 5`
is a trickle (the latency phase's batches), `--batch 500` a backlog's. The service is built by
its own composition root, its background tasks left unstarted; Python's cycle collector is
tuned as a service tunes it (GAMIFY_GC_GEN0_THRESHOLD, shared.main.tune_gc).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import ConsumerRecord

from bench.processes import proc_stat
from bench.workload import backlog
from shared import topics
from shared.clock import WallClock
from shared.db import apply_migrations, create_pool
from shared.embedded import EmbeddedPostgres, create_database
from shared.gate import GateMetrics, IntegrityGate
from shared.main import tune_gc
from shared.metrics import ServiceMetrics
from shared.processor import BatchProcessor
from shared.service import PLUMBING_MIGRATIONS, ServiceContext, ServiceSpec
from shared.settings import SERVICES, Settings


def _spec(service: str) -> ServiceSpec:
    app = importlib.import_module(f"services.{service}.app")
    spec: ServiceSpec = app.create_app(Settings()).spec
    return spec


def _records(spec: ServiceSpec, checkins: int) -> tuple[list[ConsumerRecord], list[ConsumerRecord]]:
    """The backlog's camp records and the rest of the service's inputs, as the consumer hands
    them."""
    offsets: dict[str, int] = {}
    records = []
    for topic, key, value in backlog(checkins):
        if topic not in spec.inputs:
            continue
        offset = offsets.get(topic, 0)
        offsets[topic] = offset + 1
        records.append(
            ConsumerRecord(topic, 0, offset, 0, 0, key, value, None, len(key), len(value), [])
        )
    camps = [r for r in records if r.topic == topics.CAMPS]
    return camps, [r for r in records if r.topic != topics.CAMPS]


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a local process (the database backend), None if not local."""
    stat = proc_stat(f"/proc/{pid}/stat")
    return stat.cpu_s if stat else None


def _applied(metrics: ServiceMetrics, spec: ServiceSpec) -> int:
    """Events the service has applied (neither held, duplicates nor dead-lettered)."""
    return round(
        sum(
            metrics.registry.get_sample_value(
                "gamify_events_processed_total",
                {"service": spec.name, "topic": t, "outcome": "applied"},
            )
            or 0
            for t in spec.inputs
        )
    )


async def measure(
    admin_url: str, checkins: int, batch: int, service: str = "points"
) -> dict[str, float]:
    spec = _spec(service)
    url = await create_database(admin_url, f"bench_handler_{uuid.uuid4().hex[:12]}")
    pool = await create_pool(url, service, 1)
    try:
        await apply_migrations(
            pool, service, [("plumbing", PLUMBING_MIGRATIONS), (service, spec.migrations)]
        )
        metrics = ServiceMetrics(service)
        parts = spec.build(ServiceContext(Settings(), pool, metrics, WallClock(), lambda: None))
        for task in parts.tasks:  # a scheduler, a delivery channel: not the batch step
            task.close()
        handler = IntegrityGate(  # as the runtime puts it in front of every handler
            parts.handler, spec.inputs, None, GateMetrics(metrics.registry, service)
        )
        models = {t: topics.MODELS[t] for t in spec.inputs}
        processor = BatchProcessor(service, pool, models, handler, metrics)
        camps, rest = _records(spec, checkins)
        await processor.process(camps)
        applied_before = _applied(metrics, spec)
        backend = await pool.fetchval("SELECT pg_backend_pid()")
        db_before = _cpu_seconds(backend)
        started, cpu_before = time.perf_counter(), time.process_time()
        for i in range(0, len(rest), batch):
            await processor.process(rest[i : i + batch])
            if i // batch % max(1, 20_000 // batch) == 0:
                print(f"  {i:,} / {len(rest):,}", flush=True)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
        db_after = _cpu_seconds(backend)
        n = len(rest)
        figures = {
            "events": n,
            "applied": _applied(metrics, spec) - applied_before,
            "events_per_s": round(n / wall),
            "python_us_per_event": round(cpu / n * 1e6, 1),
            "wall_us_per_event": round(wall / n * 1e6, 1),
        }
        if db_before is not None and db_after is not None:
            figures["postgres_us_per_event"] = round((db_after - db_before) / n * 1e6, 1)
        figures["outputs"] = await pool.fetchval(
            "SELECT coalesce(sum(cardinality(payloads)), 0) FROM outbox"
        )
        return figures
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.handler", description=__doc__)
    parser.add_argument("--service", choices=SERVICES, default="points")
    parser.add_argument("--checkins", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="records per batch")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL to use (a database is created on it); default: an embedded one",
    )
    args = parser.parse_args(argv)
    tune_gc(Settings().gc_gen0_threshold)  # as the service runs its batches
    server = None
    admin_url = args.database_url
    with tempfile.TemporaryDirectory(prefix="gamify-bench-handler-") as tmp:
        if admin_url is None:
            server = EmbeddedPostgres(Path(tmp) / "pg")
            admin_url = server.start()
        try:
            print(
                f"{args.service} handler: the backlog of {args.checkins:,} check-ins,"
                f" batches of {args.batch} ..."
            )
            figures = asyncio.run(measure(admin_url, args.checkins, args.batch, args.service))
        finally:
            if server is not None:
                server.stop()
    line = (
        f"{figures['events']:,} events: {figures['events_per_s']:,}/s, one batch at a time;"
        f" Python {figures['python_us_per_event']} us/event"
    )
    if "postgres_us_per_event" in figures:
        line += f", PostgreSQL {figures['postgres_us_per_event']} us/event"
    print(line + f"; {figures['outputs']:,} output events")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
