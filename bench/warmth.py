"""A warm broker before each latency phase: the broker users run has been up for days, and a
fresh JVM spends a quarter to half a core of this machine compiling Kafka's hot code for its
first minute of traffic, and again, less, at each new kind of traffic (bench/README.md, The
broker's compiler). Probes are sent at the phase's rate, unmeasured, until the compiler
threads go quiet."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from bench.common import Steady
from bench.processes import proc_stat

# (key, [(physical topic, value), ...]): what one probe sends, in order, under one key
Probe = tuple[str, list[tuple[str, bytes]]]

# HotSpot's JIT compiler threads as /proc names them (a thread's name is cut at 15 bytes).
COMPILER_THREADS = ("C1 CompilerThre", "C2 CompilerThre")
QUIET_CORES = 0.05  # the compiler's CPU over a window below which the broker counts as warm
WINDOW_S = 5.0
MIN_S = 10.0


def compiler_seconds() -> float:
    """CPU time used so far by the JIT compiler threads of this machine's JVMs (the broker's;
    0 with the embedded broker, which has none)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        process = proc_stat(f"/proc/{entry}/stat") if entry.isdigit() else None
        if process is None or process.comm != "java":
            continue
        try:
            threads = os.listdir(f"/proc/{entry}/task")
        except OSError:
            continue
        for tid in threads:
            thread = proc_stat(f"/proc/{entry}/task/{tid}/stat")
            if thread is not None and thread.comm in COMPILER_THREADS:
                total += thread.cpu_s
    return total


class Warmth:
    """Whether the broker is warm: its compiler used under QUIET_CORES over the last WINDOW_S,
    and MIN_S have passed (the services warm up too); or `max_s` passed, whatever."""

    def __init__(self, max_s: float, compiler: Callable[[], float] = compiler_seconds) -> None:
        self._max_s = max_s
        self._min_s = min(MIN_S, max_s)
        self._compiler = compiler
        self._readings: list[tuple[float, float]] = []

    def settled(self, elapsed: float) -> bool:
        now = self._compiler()
        self._readings.append((elapsed, now))
        if elapsed >= self._max_s:
            return True
        if elapsed < self._min_s:
            return False
        since = [(t, c) for t, c in self._readings if t <= elapsed - WINDOW_S]
        if not since:
            return False
        t0, c0 = since[-1]
        return (now - c0) / (elapsed - t0) < QUIET_CORES


async def warm_up(bootstrap: str, probe: Callable[[int], Probe], load: Steady) -> float:
    """Send `probe(n)` at the load's rate until the broker is warm, for at most its
    `warm_up_s`; returns the seconds it took. Nothing reads the outputs: the phase's readers
    start at the end of the output topic."""
    if load.warm_up_s <= 0:
        return 0.0
    warmth, rate = Warmth(load.warm_up_s), load.rate
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=load.probe_linger_ms, acks=1)
    await producer.start()
    try:
        begin = time.perf_counter()
        n = 0
        while n % rate or not warmth.settled(time.perf_counter() - begin):
            delay = begin + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            key, records = probe(n)
            for topic, value in records:
                await producer.send(topic, value, key=key.encode())
            n += 1
        await producer.flush()
        return time.perf_counter() - begin
    finally:
        await producer.stop()
