"""Streak freezes: earned by runs, bought, held up to a cap, used on a missed day in a run so
that it holds; off in the shipped rules."""

from __future__ import annotations

from datetime import UTC, datetime

from services.points.config import DEFAULT_RULES_FILE, PointsRules
from services.points.rules import streak_awards
from shared.camp_days import longest_run
from shared.config import load_yaml
from shared.events import CheckIn
from shared.streaks import freezes


def test_a_freeze_earned_by_a_run_holds_it_over_a_missed_day() -> None:
    days = [*range(1, 8), *range(9, 16)]  # day 8 missed
    f = freezes(days, set(), [], earn_every_days=7, max_held=2, last_day=15)
    assert f.frozen == {8} and f.earned == 2 and f.held == 1
    assert longest_run(days, f.frozen) == 14
    assert longest_run(days) == 7


def test_no_freeze_no_hold_and_none_before_a_run() -> None:
    assert freezes([1, 2, 3, 5], set(), [], 7, 2, 5).frozen == frozenset()  # none earned yet
    assert freezes([3, 4], set(), [1], 7, 2, 4).frozen == frozenset()  # days 1-2: no run yet


def test_bought_freezes_cover_as_many_missed_days_as_held_and_the_cap_holds() -> None:
    f = freezes([1, 2, 3, 6, 7], set(), [2, 2, 3], 0, 2, 7)  # three bought, two held at most
    assert f.frozen == {4, 5} and f.held == 0 and f.bought == 3
    assert longest_run([1, 2, 3, 6, 7], f.frozen) == 5


def test_leave_is_not_a_missed_day_and_a_makeup_gives_the_freeze_back() -> None:
    assert freezes([1, 2, 5], {3}, [1], 0, 2, 5).frozen == {4}
    assert freezes([1, 2, 4, 5], {3}, [1], 0, 2, 5).frozen == frozenset()  # day 4 made up


def test_the_last_day_is_not_judged_yet() -> None:
    assert freezes([1, 2], set(), [1], 0, 2, 3).frozen == frozenset()


def test_off_in_the_shipped_rules_so_todays_decisions_do_not_change() -> None:
    rules = load_yaml(DEFAULT_RULES_FILE, PointsRules).model.for_camp("c")
    assert rules.streak.freeze.enabled is False
    source = CheckIn(
        event_id="e",
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
        camp_id="c",
        student_id="a",
        day=9,
    )
    assert [a.cause for a in streak_awards("c", "a", [*range(1, 8), 9], rules, source)] == ["run:7"]
