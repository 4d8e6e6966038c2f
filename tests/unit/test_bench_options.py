"""The benchmark's command line: what `--soak` changes, how a soak's memory is summed up,
and when the broker counts as warm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import bench.__main__ as bench_main
from bench import workload
from bench.common import (
    PROBE_LINGER_MS,
    SOAK_CHECKINS,
    SOAK_PROBE_LINGER_MS,
    SOAK_READER_WAIT_MS,
    WARM_UP_MAX_S,
    Steady,
)
from bench.latency import memory_line, memory_over_time, probe_load
from bench.run import Figures
from bench.warmth import MIN_S, WINDOW_S, Warmth
from shared import topics


def _run_with(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def fake_run(
        checkins: int,
        load: Steady,
        only: list[str],
        out: Path,
        scale: bool,
        profile: Path | None = None,
        kafka_kind: str = "embedded",
        settings: dict[str, str] | None = None,
    ) -> Figures:
        seen.update(checkins=checkins, load=load, only=only, out=out, scale=scale, kafka=kafka_kind)
        seen.update(settings=settings)
        return Figures(baselines={"raw_consume_per_s": 1.0, "ceiling_per_s": 1.0})

    monkeypatch.setattr(bench_main, "run", fake_run)
    assert bench_main.main(argv) == 0
    return seen


def test_the_default_run_is_the_30_second_phase_with_unbatched_probes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _run_with(monkeypatch, [])
    assert seen["checkins"] == 200_000 and seen["scale"] is True
    assert seen["load"] == Steady(1000, 30.0, PROBE_LINGER_MS, 20, warm_up_s=0)
    assert seen["out"].name == "results.json" and seen["kafka"] == "embedded"


def test_soak_is_ten_minutes_of_batched_probes_with_its_own_results_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _run_with(monkeypatch, ["--soak", "--services", "points"])
    load = seen["load"]
    assert (load.rate, load.seconds) == (1000, 600.0)
    assert load.probe_linger_ms == SOAK_PROBE_LINGER_MS > PROBE_LINGER_MS
    assert load.reader_wait_ms == SOAK_READER_WAIT_MS  # the bus alone's reader too (one field)
    assert seen["checkins"] == SOAK_CHECKINS and seen["scale"] is False
    assert seen["out"].name == "soak-results.json" and seen["only"] == ["points"]


def test_soak_on_apache_kafka_is_the_latency_phase_made_longer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Apache Kafka carries unbatched probes: its soak is judged by the latency phase's p99.
    seen = _run_with(monkeypatch, ["--soak", "--kafka", "apache"])
    assert seen["load"] == Steady(1000, 600.0, PROBE_LINGER_MS, 20)
    assert seen["out"].name == "soak-results.json" and seen["kafka"] == "apache"


def test_settings_given_with_set_reach_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["--set", "GAMIFY_KAFKA_FETCH_MIN_BYTES=65536", "--set", "GAMIFY_CONSUMERS=2"]
    seen = _run_with(monkeypatch, argv)
    assert seen["settings"] == {"GAMIFY_KAFKA_FETCH_MIN_BYTES": "65536", "GAMIFY_CONSUMERS": "2"}
    with pytest.raises(SystemExit):
        bench_main.main(["--set", "KAFKA_FETCH_MIN_BYTES=1"])  # not a GAMIFY_ setting


def test_soak_keeps_what_is_given_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _run_with(monkeypatch, ["--soak", "--steady", "120", "--rate", "500", "--checkins", "7"])
    assert (seen["load"].rate, seen["load"].seconds, seen["checkins"]) == (500, 120.0, 7)


def test_memory_over_time_takes_each_minutes_last_window_and_the_second_halfs_range() -> None:
    rss = [60.0 + min(i, 40) * 0.25 for i in range(120)]  # 10 minutes: grows, then flat at 70
    windows = [{"t_s": 5.0 * i, "rss_mb": mb} for i, mb in enumerate(rss)]
    memory = memory_over_time(windows)
    assert memory["rss_mb_by_minute"] == [
        62.75,
        65.75,
        68.75,
        70.0,
        70.0,
        70.0,
        70.0,
        70.0,
        70.0,
        70.0,
    ]
    assert memory["rss_mb_last_half"] == [70.0, 70.0]
    assert memory_line(memory) == (
        "RSS at the end of each minute: 62.8 65.8 68.8 70.0 70.0 70.0 70.0 70.0 70.0 70.0 MB;"
        " second half within 70.0-70.0"
    )
    rss[100] = 75.0  # a bump late in the soak shows in the range
    memory = memory_over_time([{"t_s": 5.0 * i, "rss_mb": mb} for i, mb in enumerate(rss)])
    assert memory["rss_mb_last_half"] == [70.0, 75.0]


def test_a_phase_under_two_minutes_has_no_memory_verdict() -> None:
    windows = [{"t_s": 5.0 * i, "rss_mb": 70.0} for i in range(6)]
    memory = memory_over_time(windows)
    assert memory == {"rss_mb_by_minute": [], "rss_mb_last_half": []}
    assert memory_line(memory) == ""


def test_only_apache_kafka_is_warmed_up_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run_with(monkeypatch, ["--kafka", "apache"])["load"].warm_up_s == WARM_UP_MAX_S
    # the embedded broker compiles nothing, and its fetches slow with what its topics hold
    assert _run_with(monkeypatch, [])["load"].warm_up_s == 0
    argv = ["--soak", "--kafka", "apache", "--warm-up", "0"]
    assert _run_with(monkeypatch, argv)["load"].warm_up_s == 0


def _warmth_over(compiler_cores: list[float], max_s: float = 120.0) -> float | None:
    """The second at which Warmth calls the broker warm, asked each second while its compiler
    uses compiler_cores[t] over second t; None if it never does within the list."""
    clock = {"used": 0.0}
    warmth = Warmth(max_s, compiler=lambda: clock["used"])
    for t, cores in enumerate(compiler_cores):
        if warmth.settled(float(t)):
            return float(t)
        clock["used"] += cores
    return None


def test_the_broker_is_warm_once_its_compiler_goes_quiet_for_a_window() -> None:
    busy, quiet = 0.3, 0.01
    # compiling for 30 s, then quiet: warm one window after it stopped
    assert _warmth_over([busy] * 30 + [quiet] * 30) == 30 + WINDOW_S
    # quiet from the start: warm at the minimum, which lets the services warm up too
    assert _warmth_over([quiet] * 30) == MIN_S
    # a burst in the window before the minimum keeps it cold until the window has passed it
    assert _warmth_over([quiet] * 8 + [busy] + [quiet] * 30) == 9 + WINDOW_S


def test_warm_up_ends_at_its_bound_whatever_the_compiler_does() -> None:
    assert _warmth_over([0.5] * 200, max_s=60) == 60
    assert _warmth_over([0.5] * 200, max_s=1) == 1  # a bound under the minimum wins
    assert _warmth_over([0.5] * 200, max_s=0) == 0


def test_every_service_gets_the_loads_rate_in_events_not_probes() -> None:
    load = Steady(1000, 30.0)
    for service in workload.PROBE_OUTPUT:
        records = len(workload.probe(service, 0)[1])
        assert probe_load(service, load).rate * records == 1000
    assert probe_load("badges", load).rate == 500
    assert probe_load("badges", load).seconds == 30.0


@pytest.mark.parametrize("service", ["nudges", "contests"])
def test_a_dead_letter_probe_is_a_real_events_size_and_invalid(service: str) -> None:
    """A fetch waits for its minimum bytes: a probe much smaller than the backlog's events of
    its topic would wait longer to be taken up than they do."""
    ((topic, value),) = workload.probe(service, 12345)[1]
    backlog = next(v for t, _, v in workload.backlog(12_000) if t == topic)
    assert 0.8 < len(value) / len(backlog) < 1.25
    with pytest.raises(ValidationError):
        topics.MODELS[topic].model_validate_json(value)
