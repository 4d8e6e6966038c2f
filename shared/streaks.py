"""Streak freezes (pure): earned by runs of checked-in days or bought, and used on a missed day
so that the run holds. A frozen day, like a day of leave, neither breaks nor extends a run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Freezes:
    frozen: frozenset[int]  # the missed days a freeze was used on
    held: int  # freezes left after `last_day`
    earned: int
    bought: int


def freezes(
    days: Collection[int],
    leave: Collection[int],
    bought_on: Iterable[int],
    earn_every_days: int,
    max_held: int,
    last_day: int,
) -> Freezes:
    """Walk camp days 1..last_day: a freeze is earned at every `earn_every_days` checked-in days
    of a run (0: never) and bought on the day of its purchase, at most `max_held` held; a day
    missed (neither checked in nor on leave) before `last_day`, in a run, uses one if held.
    Computed from the facts alone, so arrival order never matters: a make-up check-in for a
    frozen day gives its freeze back."""
    checked, away = set(days), set(leave)
    bought = Counter(bought_on)
    held = run = earned = 0
    frozen: set[int] = set()
    for d in range(1, last_day + 1):
        held = min(max_held, held + bought[d])
        if d in checked:
            run += 1
            if earn_every_days and run % earn_every_days == 0 and held < max_held:
                held += 1
                earned += 1
        elif d in away or d == last_day:
            continue
        elif run and held:
            held -= 1
            frozen.add(d)
        else:
            run = 0
    return Freezes(frozenset(frozen), held, earned, sum(bought.values()))


def current_run(days: Collection[int], transparent: Collection[int], today: int) -> int:
    """Checked-in days in a row up to today (else yesterday), over days that neither break nor
    extend a run (leave, frozen days)."""
    checked, through = set(days), set(transparent) - set(days)
    d = today if today in checked else today - 1
    run = 0
    while d >= 1 and (d in checked or d in through):
        run += d in checked
        d -= 1
    return run
