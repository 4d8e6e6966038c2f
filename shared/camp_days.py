"""Camp-day arithmetic every service needs (pure): which camp day an instant falls on, and runs
of consecutive checked-in days."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from shared.leave import NO_LEAVE, renumber


def camp_day(starts_on: date, timezone: str, at: datetime) -> int:
    """The 1-based camp day on which `at` falls in the camp's timezone (may be < 1 or > days).

    Camp day N runs from 00:00 to 24:00 of date starts_on + N - 1, local time.
    """
    return (at.astimezone(ZoneInfo(timezone)).date() - starts_on).days + 1


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """An instant as whole microseconds since the epoch, exactly (PostgreSQL's resolution).

    How nudges reads check-ins' report times in batches: a few hundred students' whole
    histories as integer arrays, not a datetime object per check-in (decoding those was a
    quarter of the service's CPU in a backlog)."""
    return (at - _EPOCH) // _MICROSECOND


def instant(us: int) -> datetime:
    """The UTC datetime of `micros`' value."""
    return _EPOCH + us * _MICROSECOND


# Camp days whose starts are kept per camp: days 0 to 127 (a camp of up to about four months,
# and the day before it); instants outside them take camp_day's own way.
_KEPT_DAYS = 128


@lru_cache(maxsize=256)
def _day_starts_us(starts_on: date, timezone: str) -> tuple[int, ...]:
    """When camp days 0, 1, 2, ... begin: the first instant of each local date, in whole
    microseconds since the epoch (a midnight skipped by a clock change begins at the change)."""
    tz = ZoneInfo(timezone)
    return tuple(
        (datetime.combine(starts_on + timedelta(days=d - 1), time(), tz) - _EPOCH) // _MICROSECOND
        for d in range(_KEPT_DAYS + 1)
    )


def camp_days_of_micros(starts_on: date, timezone: str, instants: Iterable[int]) -> list[int]:
    """`camp_day` of each instant given in whole microseconds since the epoch: a search of the
    camp's day starts (looked up once) instead of a datetime in the camp's timezone for every
    instant (a student's whole history is judged at every batch that touches them)."""
    starts = _day_starts_us(starts_on, timezone)
    first, end = starts[0], starts[-1]
    return [
        bisect_right(starts, us) - 1
        if first <= us < end
        else camp_day(starts_on, timezone, instant(us))
        for us in instants
    ]


def longest_run(days: Iterable[int], leave: Collection[int] = NO_LEAVE) -> int:
    """The longest run of consecutive day numbers; days of leave neither break nor extend it."""
    checked = renumber(days, leave)  # sorted, each day once
    # Most students' days are one run (a check-in every day): spared the walk, 2 us at 20 days
    if not checked or checked[-1] - checked[0] + 1 == len(checked):
        return len(checked)
    best = run = 0
    previous = None
    for day in checked:
        run = run + 1 if previous is not None and day == previous + 1 else 1
        best = max(best, run)
        previous = day
    return best
