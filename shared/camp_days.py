"""Camp-day arithmetic every service needs (pure): which camp day an instant falls on, and runs
of consecutive checked-in days."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from shared.leave import NO_LEAVE, renumber


def camp_day(starts_on: date, timezone: str, at: datetime) -> int:
    """The 1-based camp day on which `at` falls in the camp's timezone (may be < 1 or > days).

    Camp day N runs from 00:00 to 24:00 of date starts_on + N - 1, local time.
    """
    return (at.astimezone(ZoneInfo(timezone)).date() - starts_on).days + 1


def longest_run(days: Iterable[int], leave: Collection[int] = NO_LEAVE) -> int:
    """The longest run of consecutive day numbers; days of leave neither break nor extend it."""
    best = run = 0
    previous = None
    for day in renumber(days, leave):
        run = run + 1 if previous is not None and day == previous + 1 else 1
        best = max(best, run)
        previous = day
    return best
