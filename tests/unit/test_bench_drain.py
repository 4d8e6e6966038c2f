"""The drain's rate, timed against a scripted service (no processes)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from bench.drain import wait_taken_in


class _Scripted:
    """Decides `total` records at `rate` a second from `start_s` after it is made."""

    procs: ClassVar[list[Any]] = []

    def __init__(self, total: int, rate: float, start_s: float) -> None:
        self.total, self.rate = total, rate
        self.begins = time.perf_counter() + start_s

    async def taken_in(self, http: object) -> tuple[float, float]:
        done = (time.perf_counter() - self.begins) * self.rate
        return float(min(self.total, max(0, int(done)))), 0.0

    async def batches(self, http: object) -> tuple[float, float, float]:
        return 1.0, float(self.total), 0.1

    async def held(self, http: object) -> int:
        return 0

    async def wait_published(self, quiet: bool) -> None:
        return None


async def test_a_drain_shorter_than_a_poll_is_timed_from_its_start_not_its_tail() -> None:
    """Half a second of 10,000 records a second, starting 0.12 s in: the poll every 0.5 s
    first saw 9 records in 10 at 0.5 s and timed the drain on the last tenth alone."""
    drained = await wait_taken_in(_Scripted(5_000, 10_000, 0.12), 5_000, quiet=True)  # type: ignore[arg-type]
    assert 7_000 < drained.per_s < 11_000
