"""Camp days from microseconds (how nudges reads a student's history) agree with camp_day,
through changes of clocks, at local midnight too."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.camp_days import camp_day, camp_days_of_micros, instant, longest_run, micros

# Zones whose clocks change at local midnight (a skipped or a repeated midnight), and others.
DAY_START_ZONES = ["America/Santiago", "America/Havana", "America/Asuncion", "Asia/Shanghai", "UTC"]


@given(
    zone=st.sampled_from(DAY_START_ZONES),
    starts_on=st.dates(date(2024, 1, 1), date(2027, 12, 31)),
    offset_s=st.integers(-3 * 86_400, 140 * 86_400),  # before day 0, in the kept days, after
)
def test_a_camp_day_from_microseconds_is_the_camp_day_of_that_instant(
    zone: str, starts_on: date, offset_s: int
) -> None:
    first = datetime.combine(starts_on, datetime.min.time(), ZoneInfo(zone))
    at = (first + timedelta(seconds=offset_s)).astimezone(UTC)
    us = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert camp_days_of_micros(starts_on, zone, [us]) == [camp_day(starts_on, zone, at)]


@pytest.mark.parametrize("zone", DAY_START_ZONES)
def test_camp_days_from_microseconds_hold_across_every_clock_change(zone: str) -> None:
    """Every quarter of an hour, and the microseconds either side of each day's start, over
    a camp of 120 days spanning a change of clocks each way."""
    starts_on = date(2025, 8, 1)
    epoch, tick = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)
    begin = datetime.combine(starts_on, datetime.min.time(), ZoneInfo(zone)).astimezone(UTC)
    for quarter in range(-8, 120 * 96):
        at = begin + timedelta(minutes=15 * quarter)
        for us in ((at - epoch) // tick - 1, (at - epoch) // tick):
            expected = camp_day(starts_on, zone, epoch + us * tick)
            assert camp_days_of_micros(starts_on, zone, [us]) == [expected], (zone, us)


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from([UTC, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")]),
)
def test_micros_are_exact_both_ways(at: datetime, zone: tzinfo) -> None:
    us = micros(at.astimezone(zone))  # the same instant, whatever the zone
    assert instant(us) == at
    assert micros(at + timedelta(microseconds=1)) == us + 1


@given(
    days=st.lists(st.integers(0, 40), max_size=40),
    leave=st.frozensets(st.integers(0, 40), max_size=8),
)
def test_the_longest_run_is_the_longest_stretch_of_days_checked_in_or_on_leave(
    days: list[int], leave: frozenset[int]
) -> None:
    """By the definition: the most checked-in days in a stretch of consecutive days each
    checked in or on leave (a leave day alone counts nothing)."""
    checked = set(days)
    best = 0
    for first in checked:
        n, day = 0, first
        while day in checked or day in leave:
            n += day in checked
            day += 1
        best = max(best, n)
    assert longest_run(days, leave) == best
