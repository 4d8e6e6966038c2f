"""python -m bench: measure every service against the bus's and the architecture's limits."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from pathlib import Path

from bench.common import BACKLOG_CHECKINS, SOAK_CHECKINS, SOAK_SECONDS, WARM_UP_MAX_S, Steady
from bench.processes import py_spy
from bench.run import run, summary
from shared.settings import SERVICES

WARM_UP = {"apache": WARM_UP_MAX_S, "embedded": 0.0}


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("GAMIFY_"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected GAMIFY_NAME=VALUE")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--checkins",
        type=int,
        help="check-ins in the backlog (as many contest events are added);"
        f" {BACKLOG_CHECKINS:,}, or {SOAK_CHECKINS:,} with --soak",
    )
    parser.add_argument("--rate", type=int, default=1000, help="events/s of the latency phase")
    parser.add_argument(
        "--steady",
        type=float,
        help=f"seconds of the latency phase; {Steady.seconds:.0f},"
        f" or {SOAK_SECONDS:.0f} with --soak",
    )
    parser.add_argument(
        "--warm-up",
        type=float,
        metavar="SECONDS",
        help="before each latency phase, unmeasured probes until Apache Kafka's JIT compiler"
        f" goes quiet, for at most this long; {WARM_UP_MAX_S:.0f} on Apache Kafka, 0 (none) on"
        " the embedded broker, which compiles nothing and whose fetches slow with the records"
        " its topics hold",
    )
    parser.add_argument(
        "--soak",
        action="store_true",
        help="the memory soak: a 10-minute latency phase for each service (on the embedded"
        " broker with probes batched, 100 ms linger, so that it can carry them); no scaling"
        " run; writes bench/soak-results.json",
    )
    parser.add_argument(
        "--kafka",
        choices=["embedded", "apache"],
        default="embedded",
        help="the broker: the embedded one, or Apache Kafka from its jars; results.json keeps"
        " one section per broker",
    )
    parser.add_argument("--services", nargs="*", choices=SERVICES, default=list(SERVICES))
    parser.add_argument(
        "--no-scaling",
        action="store_true",
        help="skip the scaling run: points as 1 and 2 processes, and (Apache Kafka) one"
        " process of 2 consumers",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="GAMIFY_NAME=VALUE",
        type=_setting,
        help="a setting for every service process (repeatable), e.g."
        " GAMIFY_KAFKA_FETCH_MIN_BYTES=65536; recorded in the results",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record each service with py-spy (collapsed stacks, DIR/NAME-0.txt)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write the results, relative to the working directory "
        "(default: bench/results.json, or bench/soak-results.json with --soak)",
    )
    args = parser.parse_args(argv)
    if args.profile is not None and py_spy() is None:
        parser.error("--profile needs py-spy: pip install py-spy (beside this Python or on PATH)")
    if args.soak:
        seconds = args.steady or SOAK_SECONDS
        # Apache Kafka carries the latency phase's probes as they are: its soak is that phase,
        # longer, and judged by the same p99.
        load = (
            Steady.soak(args.rate, seconds)
            if args.kafka == "embedded"
            else Steady(args.rate, seconds)
        )
        checkins = args.checkins or SOAK_CHECKINS
    else:
        load = Steady(args.rate, args.steady or Steady.seconds)
        checkins = args.checkins or BACKLOG_CHECKINS
    warm_up = args.warm_up if args.warm_up is not None else WARM_UP[args.kafka]
    load = dataclasses.replace(load, warm_up_s=warm_up)
    out = args.out or Path(__file__).parent / ("soak-results.json" if args.soak else "results.json")
    figures = asyncio.run(
        run(
            checkins,
            load,
            args.services,
            out,
            not (args.no_scaling or args.soak),
            args.profile,
            args.kafka,
            dict(args.set),
        )
    )
    print(summary(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
