"""The learning loop's rules: what is due, on time or late, homework rates, who gets a homework
nudge, and waits across midnight and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.nudges import rules
from services.nudges.config import DEFAULT_NUDGES_FILE, NudgeBook
from services.nudges.loop_store import QuestionFacts, _merge
from services.nudges.rules import ReminderFacts, Skip
from shared.config import load_yaml
from shared.events import Assignment
from shared.homework import due_for_reminder, earliest, homework, on_time, status, wait_seconds

SH = ZoneInfo("Asia/Shanghai")
NY = "America/New_York"
START = date(2026, 11, 20)
BOOK = load_yaml(DEFAULT_NUDGES_FILE, NudgeBook).model
SCHEDULE = (
    Assignment(assignment_id="b1", tier="basic", due_day=1),
    Assignment(assignment_id="b2", tier="basic", due_day=2),
    Assignment(assignment_id="p1", tier="practice", due_day=7),
    Assignment(assignment_id="c1", tier="challenge", due_day=7),
)


def local(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, 19 + day, hh, mm, tzinfo=SH)


def test_on_time_means_by_the_end_of_the_due_day_in_the_camps_timezone() -> None:
    p1 = SCHEDULE[2]
    assert on_time(START, "Asia/Shanghai", p1, local(7, 23, 59))
    assert not on_time(START, "Asia/Shanghai", p1, local(8, 0, 0))
    # 16:30 UTC on day 7 is 00:30 on day 8 in Shanghai: late, whatever the offset it came with
    assert not on_time(START, "Asia/Shanghai", p1, datetime(2026, 11, 26, 16, 30, tzinfo=UTC))
    assert on_time(START, "Asia/Shanghai", p1, local(1, 9))  # early is on time


@pytest.mark.parametrize(
    ("handed_in", "today", "expected"),
    [
        (None, 6, "open"),
        (None, 7, "open"),  # the due day is not over
        (None, 8, "missing"),
        (local(7, 22), 8, "on_time"),
        (local(9, 10), 9, "late"),
    ],
)
def test_status(handed_in: datetime | None, today: int, expected: str) -> None:
    assert status(START, "Asia/Shanghai", SCHEDULE[2], handed_in, today) == expected


def test_rate_counts_what_was_due_so_far_per_tier_and_overall() -> None:
    first = earliest(
        [
            ("b1", local(1, 20)),
            ("b2", local(3, 9)),  # late
            ("b2", local(2, 21)),  # ... but an earlier copy was on time: the first one counts
            ("p1", local(5, 9)),  # early: counted at once
            ("unscheduled", local(2, 9)),  # outside the schedule: ignored
        ]
    )
    hw = homework(START, "Asia/Shanghai", SCHEDULE, first, today=6)
    assert hw.statuses == {"b1": "on_time", "b2": "on_time", "c1": "open", "p1": "on_time"}
    assert (hw.by_tier["basic"].on_time, hw.by_tier["basic"].due) == (2, 2)
    assert (hw.by_tier["challenge"].due, hw.by_tier["challenge"].value) == (0, None)
    assert (hw.overall.on_time, hw.overall.due, hw.overall.value) == (3, 3, 1.0)
    later = homework(START, "Asia/Shanghai", SCHEDULE, first, today=8)
    assert later.statuses["c1"] == "missing"
    assert (later.overall.on_time, later.overall.due) == (3, 4)


def test_a_camp_without_a_schedule_judges_nothing() -> None:
    hw = homework(START, "Asia/Shanghai", (), {"x": local(1, 9)}, today=30)
    assert hw.statuses == {} and hw.overall.value is None
    assert due_for_reminder((), 7, []) == []


def test_homework_nudge_is_for_practices_and_challenges_due_today_not_handed_in() -> None:
    assert [a.assignment_id for a in due_for_reminder(SCHEDULE, 7, [])] == ["c1", "p1"]
    assert [a.assignment_id for a in due_for_reminder(SCHEDULE, 7, ["c1"])] == ["p1"]
    assert due_for_reminder(SCHEDULE, 7, ["c1", "p1"]) == []
    assert due_for_reminder(SCHEDULE, 1, []) == []  # basic: the reminder's business
    assert due_for_reminder(SCHEDULE, 6, []) == []


FACTS = ReminderFacts(
    segment="active",
    checked_in_today=True,
    opted_out=False,
    enrolled=True,
    last_reminder_day=None,
    ignored_in_row=0,
)


def test_homework_nudge_goes_to_an_active_student_who_checked_in() -> None:
    due = rules.at_local(START, "Asia/Shanghai", 7, "20:00")
    assert rules.decide_instead("homework", FACTS, 7, due, due, "Asia/Shanghai", BOOK) is None
    # ... where a reminder would not
    skip = rules.decide_reminder(FACTS, 7, due, due, "Asia/Shanghai", BOOK)
    assert skip == Skip("checked_in")


@pytest.mark.parametrize(
    ("change", "clock", "reason"),
    [
        ({"opted_out": True}, "20:00", "opted_out"),
        ({"enrolled": False}, "20:00", "not_enrolled"),
        ({"last_reminder_day": 7}, "20:00", "capped"),  # one reminder-or-homework a day
        ({}, "22:30", "quiet_hours"),
    ],
)
def test_homework_nudge_keeps_the_reminders_limits(
    change: dict[str, object], clock: str, reason: str
) -> None:
    facts = ReminderFacts(**_with(change))  # type: ignore[arg-type]
    due = rules.at_local(START, "Asia/Shanghai", 7, clock)
    assert rules.decide_instead("homework", facts, 7, due, due, "Asia/Shanghai", BOOK) == Skip(
        reason
    )


def _with(change: dict[str, object]) -> dict[str, object]:
    base = {
        "segment": FACTS.segment,
        "checked_in_today": FACTS.checked_in_today,
        "opted_out": FACTS.opted_out,
        "enrolled": FACTS.enrolled,
        "last_reminder_day": FACTS.last_reminder_day,
        "ignored_in_row": FACTS.ignored_in_row,
    }
    return {**base, **change}


@pytest.mark.parametrize(
    ("kind", "reason"), [("homework", "homework_off"), ("streak_saved", "saved_off")]
)
def test_a_nudge_instead_of_the_reminder_is_off_without_its_templates(
    kind: str, reason: str
) -> None:
    book = BOOK.model_copy(
        update={"templates": {k: v for k, v in BOOK.templates.items() if k != kind}}
    )
    due = rules.at_local(START, "Asia/Shanghai", 7, "20:00")
    assert rules.decide_instead(kind, FACTS, 7, due, due, "Asia/Shanghai", BOOK) is None
    assert rules.decide_instead(kind, FACTS, 7, due, due, "Asia/Shanghai", book) == Skip(reason)


def test_homework_words_name_the_tiers() -> None:
    assert rules.homework_words(["challenge", "practice", "practice"]) == "每周实践、月度挑战"


def test_waits_are_exact_across_midnight_and_daylight_saving() -> None:
    tz = ZoneInfo(NY)
    # 2026-11-01 02:00 EDT -> 01:00 EST: the wall clock says 2 hours, 3 really passed
    asked = datetime(2026, 11, 1, 0, 30, tzinfo=tz)
    answered = datetime(2026, 11, 1, 2, 30, tzinfo=tz)
    assert wait_seconds(asked, answered) == 3 * 3600
    # spring forward (2026-03-08 02:00 -> 03:00): wall clock 3 hours, 2 really passed
    assert (
        wait_seconds(datetime(2026, 3, 8, 0, 30, tzinfo=tz), datetime(2026, 3, 8, 3, 30, tzinfo=tz))
        == 2 * 3600
    )
    # the same instant written with different offsets, across a date line
    review = datetime(2026, 11, 21, 1, 0, tzinfo=SH)
    assert wait_seconds(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), review) == 5 * 3600
    assert wait_seconds(review, review - timedelta(minutes=5)) == 0  # skewed clocks: no wait


def test_an_answer_before_its_question_and_the_earliest_of_each_win() -> None:
    q = QuestionFacts("c", "q1", "ann")
    answered = _merge(q, None, None, local(2, 10))  # the answer came first
    assert answered.asked_at is None and answered.answered_at == local(2, 10)
    both = _merge(answered, "howto", local(2, 9), None)
    assert (both.category, both.asked_at, both.answered_at) == ("howto", local(2, 9), local(2, 10))
    again = _merge(both, "content", local(2, 9, 30), local(2, 9, 45))  # later asking: ignored
    assert (again.category, again.asked_at, again.answered_at) == (
        "howto",
        local(2, 9),
        local(2, 9, 45),
    )
