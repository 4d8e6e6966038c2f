"""python -m bench: measure every service against the bus's and the architecture's limits."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from bench.run import SERVICES, py_spy, run, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--checkins",
        type=int,
        default=200_000,
        help="check-ins in the backlog (as many contest events are added)",
    )
    parser.add_argument("--rate", type=int, default=1000, help="events/s of the latency phase")
    parser.add_argument(
        "--steady",
        type=float,
        default=30.0,
        help="seconds of the latency phase (600 for the memory soak)",
    )
    parser.add_argument("--services", nargs="*", choices=SERVICES, default=list(SERVICES))
    parser.add_argument(
        "--no-scaling", action="store_true", help="skip the one-versus-two points replicas run"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record each service with py-spy (collapsed stacks, DIR/NAME-0.txt)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results.json")
    args = parser.parse_args(argv)
    if args.profile is not None and py_spy() is None:
        parser.error("--profile needs py-spy: pip install py-spy (beside this Python or on PATH)")
    figures = asyncio.run(
        run(
            args.checkins,
            args.rate,
            args.steady,
            args.services,
            args.out,
            not args.no_scaling,
            args.profile,
        )
    )
    print(summary(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
