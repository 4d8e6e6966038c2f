"""Leave (contract "Care") in every rule that counts runs or gaps: days of leave neither break
nor extend a run, make a student `on_leave`, send no reminders, and a return from a leave is
not a return from a lapse unless the student was lapsed before it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.badges.config import DEFAULT_BADGES_FILE, BadgeBook
from services.badges.rules import BadgeJudge, CampFacts, StudentFacts
from services.nudges import rules
from services.nudges.config import DEFAULT_NUDGES_FILE, NudgeBook
from services.nudges.rules import ReminderFacts, Skip
from services.points.config import DEFAULT_RULES_FILE, PointsRules
from services.points.rules import streak_awards
from shared.camp_days import longest_run, micros
from shared.config import load_yaml
from shared.events import CheckIn
from shared.leave import gap_days, leave_days, leave_days_of, renumber

START = date(2026, 11, 20)
SH = "Asia/Shanghai"


def test_leave_days_are_the_union_of_the_spans_capped_in_camp_order() -> None:
    assert leave_days([(6, 7), (3, 4), (7, 9)]) == {3, 4, 6, 7, 8, 9}
    # the cap keeps the first days by camp day, whatever order the spans came in
    assert leave_days([(10, 12), (3, 4)], cap=3) == {3, 4, 10}
    assert leave_days([(3, 4), (10, 12)], cap=3) == {3, 4, 10}
    assert leave_days([(1, 5)], cap=0) == frozenset()


def test_leave_days_of_each_student_capped_each_on_its_own() -> None:
    rows = [("a", 10, 12), ("b", 1, 1), ("a", 3, 4)]
    assert leave_days_of(rows, cap=3) == {"a": {3, 4, 10}, "b": {1}}
    assert leave_days_of([], cap=None) == {}


@pytest.mark.parametrize(
    ("days", "leave", "run"),
    [
        ([1, 2, 3, 4, 5, 8, 9], {6, 7}, 7),  # the leave joins the two runs
        ([1, 2, 3, 4, 5, 8, 9], set(), 5),
        ([1, 2, 3], {4, 5, 6}, 3),  # leave never extends a run
        ([1, 2, 3, 5], {4, 5}, 4),  # a check-in on a leave day counts as a day
        ([1, 3], {5}, 1),  # leave elsewhere changes nothing
    ],
)
def test_runs_see_through_leave(days: list[int], leave: set[int], run: int) -> None:
    assert longest_run(days, leave) == run


def test_renumber_and_gaps() -> None:
    assert renumber([1, 2, 5, 6], {3, 4}) == [1, 2, 3, 4]
    assert gap_days(2, 6, {3, 4}) == 3
    assert gap_days(5, 4, set()) == 0


@pytest.mark.parametrize(
    ("days", "leave", "day", "segment"),
    [
        ([1], {2, 3, 4}, 3, "on_leave"),
        ([1], {2, 3, 4}, 5, "active"),  # leave days are not missed
        ([1], {2, 3}, 6, "slipping"),  # days 4 and 5 missed
        ([1], {5, 6}, 7, "lapsed"),  # days 2-4 missed before the leave: still lapsed
        ([], {1, 2}, 2, "on_leave"),
        ([], {1, 2}, 3, "never"),
    ],
)
def test_segments_with_leave(days: list[int], leave: set[int], day: int, segment: str) -> None:
    assert rules.segment_on(days, day, leave) == segment


def us(day: int, hh: int = 9) -> int:
    return micros(datetime(2026, 11, 19 + day, hh - 8, tzinfo=UTC))


def test_a_return_from_leave_is_not_a_lapse_unless_lapsed_before_it() -> None:
    # checked in on day 1, on leave 2-8, back on day 9: no lapse
    assert rules.returns([us(1), us(9)], START, SH, {2, 3, 4, 5, 6, 7, 8}) == []
    assert [r.day for r in rules.returns([us(1), us(9)], START, SH)] == [9]
    # missed 2-4 (lapsed), then on leave 5-8: coming back on day 9 is a return from a lapse
    back = rules.returns([us(1), us(9)], START, SH, {5, 6, 7, 8})
    assert [(r.day, r.missed) for r in back] == [(9, 3)]


def test_the_welcome_back_from_a_break_and_when_it_is_not_sent() -> None:
    reported = {1: us(1), 9: us(9), 10: us(10)}
    assert [
        (b.day, b.leave_from, b.leave_to) for b in rules.backs_from_leave(reported, {4, 5, 6, 7, 8})
    ] == [(9, 4, 8)]
    assert rules.judge_back_from_leave(reported, {2, 3, 4, 5, 6, 7, 8}, 9, START, SH) is None
    # lapsed before the leave: welcomed back with the gift instead
    lapsed = rules.judge_back_from_leave(reported, {5, 6, 7, 8}, 9, START, SH)
    assert lapsed == Skip("welcomed")
    # checked in during the leave: there was no break to come back from
    assert rules.backs_from_leave({1: us(1), 5: us(5), 9: us(9)}, {4, 5, 6}) == []


def test_no_reminder_or_homework_nudge_on_a_day_of_leave() -> None:
    book = load_yaml(DEFAULT_NUDGES_FILE, NudgeBook).model
    facts = ReminderFacts(
        segment="on_leave",
        checked_in_today=False,
        opted_out=False,
        enrolled=True,
        last_reminder_day=None,
        ignored_in_row=0,
    )
    due = rules.at_local(START, SH, 3, "20:00")
    assert rules.decide_reminder(facts, 3, due, due, SH, book) == Skip("on_leave")
    assert rules.decide_instead("homework", facts, 3, due, due, SH, book) == Skip("on_leave")


def test_points_streak_bonus_counts_the_run_through_leave() -> None:
    points = load_yaml(DEFAULT_RULES_FILE, PointsRules).model.for_camp("c")
    source = CheckIn(
        event_id="e",
        occurred_at=datetime(2026, 11, 28, 9, tzinfo=UTC),
        camp_id="c",
        student_id="ann",
        day=9,
    )
    days = [1, 2, 3, 4, 5, 8, 9]
    assert streak_awards("c", "ann", days, points, source) == []
    paid = streak_awards("c", "ann", days, points, source, leave={6, 7})
    assert [a.cause for a in paid] == ["run:7"]


def test_the_streak_badge_counts_the_run_through_leave() -> None:
    book = load_yaml(DEFAULT_BADGES_FILE, BadgeBook).model
    camp = CampFacts("c", days=21, lessons=21)
    days = frozenset({1, 2, 3, 4, 5, 8, 9})
    assert "streak-7" not in BadgeJudge(book.badges).new_badges(
        StudentFacts(days=days), camp, set()
    )
    with_leave = StudentFacts(days=days, leave=frozenset({6, 7}))
    assert "streak-7" in BadgeJudge(book.badges).new_badges(with_leave, camp, set())
