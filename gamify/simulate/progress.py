"""The simulator's progress on stderr."""

from __future__ import annotations

import sys
import time


class Progress:
    """The camp day and events per second on stderr: one updating line on a terminal, a line
    per day otherwise; nothing when quiet."""

    def __init__(self, days: int, quiet: bool = False) -> None:
        self._days = days
        self._quiet = quiet
        self._tty = sys.stderr.isatty()
        self._started = time.monotonic()
        self.events = 0

    def show(self, day: int, what: str) -> None:
        if self._quiet or (not self._tty and what != "day done"):
            return
        rate = self.events / max(time.monotonic() - self._started, 1e-6)
        width = 21
        done = round(width * min(day, self._days) / self._days)
        line = (
            f"day {min(day, self._days):>3}/{self._days} [{'#' * done}{'.' * (width - done)}]"
            f" {self.events:>8,} events {rate:>7,.0f}/s  {what:<12}"
        )
        print(
            "\r" + line if self._tty else line,
            end="" if self._tty else "\n",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self._tty and not self._quiet:
            print(file=sys.stderr, flush=True)
