"""Leave (请假, contract "Care"), pure: which days a student is on leave, and the camp calendar
as runs and gaps see it. Days of leave neither break nor extend a run of checked-in days, so a
leave day without a check-in is taken out of the calendar before runs and gaps are counted.
Every service that counts runs or gaps (points' streaks, the streak badges, segments and
welcome-backs) counts them this way."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Hashable, Iterable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

NO_LEAVE: frozenset[int] = frozenset()


def leave_days(spans: Iterable[tuple[int, int]], cap: int | None = None) -> frozenset[int]:
    """The days of leave of every span reported (from_day, to_day), in any order; with a cap
    (GAMIFY_LEAVE_MAX_DAYS), only the first `cap` of them in the camp's order, so that the
    outcome never depends on which leave arrived first."""
    days = sorted({d for first, last in spans for d in range(first, last + 1)})
    return frozenset(days if cap is None else days[:cap])


def leave_days_of(spans: Iterable[tuple[K, int, int]], cap: int | None) -> dict[K, frozenset[int]]:
    """`leave_days` of each student (key, from_day, to_day); only students with leave listed."""
    grouped: dict[K, list[tuple[int, int]]] = {}
    for key, first, last in spans:
        grouped.setdefault(key, []).append((first, last))
    return {k: leave_days(s, cap) for k, s in grouped.items()}


def renumber(days: Iterable[int], leave: Collection[int]) -> list[int]:
    """Checked-in days, sorted, numbered on a calendar without the leave days on which the
    student did not check in: 1-5 checked, 6-7 on leave, 8-9 checked -> 1-7, one run."""
    checked = sorted(set(days))
    if not leave:
        return checked
    skipped = sorted(set(leave) - set(checked))
    return [d - bisect_left(skipped, d) for d in checked]


def position(day: int, days: Collection[int], leave: Collection[int]) -> int:
    """Where camp day `day` falls on `renumber`'s calendar for these checked-in days."""
    skipped = sorted(set(leave) - set(days))
    return day - bisect_left(skipped, day)


def gap_days(first: int, last: int, leave: Collection[int]) -> int:
    """Days from `first` to `last` (inclusive) that are not leave days: a gap's length."""
    if last < first:
        return 0
    return (last - first + 1) - sum(1 for d in leave if first <= d <= last)
