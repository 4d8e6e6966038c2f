"""Camp-day arithmetic every service needs (pure): which camp day an instant falls on, and runs
of consecutive checked-in days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo


def camp_day(starts_on: date, timezone: str, at: datetime) -> int:
    """The 1-based camp day on which `at` falls in the camp's timezone (may be < 1 or > days).

    Camp day N runs from 00:00 to 24:00 of date starts_on + N - 1, local time.
    """
    return (at.astimezone(ZoneInfo(timezone)).date() - starts_on).days + 1


def longest_run(days: Iterable[int]) -> int:
    """The longest run of consecutive day numbers."""
    best = run = 0
    previous = None
    for day in sorted(set(days)):
        run = run + 1 if previous is not None and day == previous + 1 else 1
        best = max(best, run)
        previous = day
    return best
