"""The latency phases: probes at a steady rate through a service (or the bus alone), timed
from send() to their output being readable, and the timelines made of them."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import workload
from bench.common import (
    PARTITIONS,
    PROBE_LINGER_MS,
    READER_WAIT_MS,
    SAMPLE_S,
    WARMUP_S,
    Steady,
    say,
)
from bench.warmth import Probe, warm_up
from gamify.simulate.stack import RunPlace
from shared import topics


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


def service_probe(place: RunPlace, service: str, tag: str = "") -> Callable[[int], Probe]:
    """Probe `n` of `service` on `place`'s topics; `tag` keeps warm-up probes apart."""

    def probe(n: int) -> Probe:
        key, records = workload.probe(service, n, tag)
        return key, [(topics.physical(place.prefix, t), v) for t, v in records]

    return probe


def probe_load(service: str, load: Steady) -> Steady:
    """The load in probes/s that sends `service` the load's rate in events/s: a probe of
    badges is two events (a work and its review), so it gets half as many probes."""
    records = len(workload.probe(service, 0)[1])
    return replace(load, rate=max(1, load.rate // records))


async def warm_service(place: RunPlace, service: str, load: Steady) -> float:
    """Probes of `service` at the load's rate, unmeasured, until the broker is warm (seconds)."""
    return await warm_up(
        place.bootstrap, service_probe(place, service, "warm-"), probe_load(service, load)
    )


async def steady_latency(place: RunPlace, service: str, load: Steady) -> list[tuple[float, float]]:
    """Probes of `service` at the load's rate, each until its output is readable."""
    output = topics.physical(place.prefix, workload.PROBE_OUTPUT[service])
    return await round_trips(
        place.bootstrap,
        output,
        service_probe(place, service),
        probe_load(service, load).rate,
        load.seconds,
        fetch_wait_ms=load.reader_wait_ms,
        warmup_s=WARMUP_S,
        linger_ms=load.probe_linger_ms,
    )


async def bus_topic(place: RunPlace) -> tuple[str, Callable[[int], Probe]]:
    """The bus baseline's fresh 6-partition topic, and its probes."""
    name = topics.physical(place.prefix, "bench.bus-latency")
    await topics.ensure_topics(place.bootstrap, [name], PARTITIONS)

    def probe(n: int) -> Probe:
        return f"bus-{n}", [(name, b'{"probe": true}')]

    return name, probe


async def warm_bus(place: RunPlace, load: Steady) -> float:
    """The bus baseline's records at the load's rate, unmeasured, until the broker is warm."""
    _, probe = await bus_topic(place)
    return await warm_up(place.bootstrap, probe, load)


async def bus_latency(place: RunPlace, load: Steady, seconds: float) -> list[float]:
    """The bus alone: records sent as the load sends probes to a fresh 6-partition topic and
    read back as the load reads outputs; the milliseconds from send to read."""
    name, probe = await bus_topic(place)
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
