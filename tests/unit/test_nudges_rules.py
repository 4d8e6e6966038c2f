"""Nudge rules at their edges: segments, due times, quiet hours, caps, back-off, variants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.nudges import rules
from services.nudges.config import DEFAULT_NUDGES_FILE, Backoff, NudgeBook, Template
from services.nudges.rules import ReminderFacts, Skip
from shared.camp_days import camp_day, instant, micros
from shared.config import ConfigError, load_yaml

BOOK = load_yaml(DEFAULT_NUDGES_FILE, NudgeBook).model
SH = "Asia/Shanghai"
START = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("days", "day", "segment"),
    [
        ([], 1, "never"),
        ([1], 1, "active"),  # a first check-in today
        ([], 5, "never"),
        ([4], 5, "active"),
        ([3], 5, "slipping"),
        ([2], 5, "slipping"),
        ([1], 5, "lapsed"),
        ([1, 2], 6, "lapsed"),
        ([1, 2, 5], 6, "active"),
        ([1, 2, 6], 6, "lapsed"),  # today's check-in does not change today's segment
        ([7, 8], 6, "never"),  # only future days: nothing before today
    ],
)
def test_segments_follow_the_contract(days: list[int], day: int, segment: str) -> None:
    assert rules.segment_on(days, day) == segment


def test_a_makeup_checkin_changes_the_segment_at_once() -> None:
    assert rules.segment_on([1, 2], 5) == "slipping"
    assert rules.segment_on([1, 2, 4], 5) == "active"


@pytest.mark.parametrize(
    ("days", "day", "missed", "streak"),
    [
        ([], 3, 2, 0),
        ([1, 2], 3, 0, 2),
        ([1, 2, 3], 3, 0, 3),
        ([1], 5, 3, 0),
        ([2, 3, 5], 6, 0, 1),
    ],
)
def test_days_missed_and_streak(days: list[int], day: int, missed: int, streak: int) -> None:
    assert rules.days_missed(days, day) == missed
    assert rules.current_streak(days, day) == streak


@pytest.mark.parametrize(
    ("tz", "day", "hhmm", "utc"),
    [
        (SH, 1, "20:00", datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),
        (SH, 3, "08:30", datetime(2026, 11, 22, 0, 30, tzinfo=UTC)),
        ("Asia/Kolkata", 1, "20:00", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),  # +05:30, no DST
        ("Europe/Berlin", 1, "20:00", datetime(2026, 11, 20, 19, 0, tzinfo=UTC)),
        ("America/New_York", 1, "20:00", datetime(2026, 11, 21, 1, 0, tzinfo=UTC)),
    ],
)
def test_due_times_are_local_to_the_camp(tz: str, day: int, hhmm: str, utc: datetime) -> None:
    assert rules.at_local(START, tz, day, hhmm) == utc


def test_due_times_cross_a_daylight_saving_change() -> None:
    # New York leaves DST on 2026-11-01: 20:00 local is 00:00 UTC before and 01:00 UTC after.
    start = date(2026, 10, 31)
    assert rules.at_local(start, "America/New_York", 1, "20:00").astimezone(UTC).hour == 0
    assert rules.at_local(start, "America/New_York", 2, "20:00").astimezone(UTC).hour == 1


@pytest.mark.parametrize(
    ("hhmm", "quiet"),
    [
        ("21:59", False),
        ("22:00", True),
        ("23:30", True),
        ("00:00", True),
        ("07:59", True),
        ("08:00", False),
        ("12:00", False),
    ],
)
def test_quiet_hours(hhmm: str, quiet: bool) -> None:
    at = rules.at_local(START, SH, 1, hhmm)
    assert rules.in_quiet_hours(at, SH, BOOK.quiet_hours) is quiet


def test_praise_in_quiet_hours_waits_for_the_morning() -> None:
    late = rules.at_local(START, SH, 1, "23:10")
    assert rules.after_quiet_hours(late, SH, BOOK.quiet_hours) == rules.at_local(
        START, SH, 2, "08:00"
    )
    early = rules.at_local(START, SH, 2, "06:00")
    assert rules.after_quiet_hours(early, SH, BOOK.quiet_hours) == rules.at_local(
        START, SH, 2, "08:00"
    )
    noon = rules.at_local(START, SH, 2, "12:00")
    assert rules.after_quiet_hours(noon, SH, BOOK.quiet_hours) == noon


def facts(**changes: object) -> ReminderFacts:
    base = {
        "segment": "slipping",
        "checked_in_today": False,
        "opted_out": False,
        "enrolled": True,
        "last_reminder_day": None,
        "ignored_in_row": 0,
    }
    return ReminderFacts(**{**base, **changes})  # type: ignore[arg-type]


def decide(
    f: ReminderFacts,
    day: int = 5,
    hhmm: str = "20:00",
    now: str | None = None,
    book: NudgeBook = BOOK,
) -> Skip | None:
    due = rules.at_local(START, SH, day, hhmm)
    at = rules.at_local(START, SH, day, now) if now else due
    return rules.decide_reminder(f, day, due, at, SH, book)


@pytest.mark.parametrize(
    ("f", "reason"),
    [
        (facts(), None),
        (facts(opted_out=True), "opted_out"),
        (facts(checked_in_today=True), "checked_in"),
        (facts(segment="active"), "active"),
        (facts(enrolled=False), "not_enrolled"),
        (facts(segment="never"), None),
        (facts(segment="lapsed"), None),
    ],
)
def test_who_gets_a_reminder(f: ReminderFacts, reason: str | None) -> None:
    result = decide(f)
    assert (result.reason if result else None) == reason


def test_reminder_at_2159_is_sent_and_at_2200_is_quiet() -> None:
    assert decide(facts(), hhmm="21:59") is None
    assert decide(facts(), hhmm="22:00") == Skip("quiet_hours")


def test_a_reminder_processed_late_into_the_quiet_hours_is_not_sent() -> None:
    assert decide(facts(), hhmm="21:00", now="22:05") == Skip("quiet_hours")


@pytest.mark.parametrize(
    ("segment", "last", "day", "sent"),
    [
        ("slipping", 4, 5, True),
        ("lapsed", 3, 5, False),
        ("lapsed", 2, 5, True),  # lapsed: one every 3 days
        ("never", 0, 6, False),
        ("never", 0, 7, True),  # never: one every 7 days
        ("slipping", 5, 5, False),  # one a day
    ],
)
def test_caps_per_segment(segment: str, last: int, day: int, sent: bool) -> None:
    result = decide(facts(segment=segment, last_reminder_day=last), day=day)
    assert (result is None) is sent
    if not sent:
        assert result == Skip("capped")


def test_backoff_is_off_by_default_and_spaces_ignored_reminders_when_on() -> None:
    tired = facts(last_reminder_day=4, ignored_in_row=3)
    assert decide(tired) is None
    book = BOOK.model_copy(update={"backoff": Backoff(enabled=True, after_ignored=3)})
    assert decide(tired, book=book) == Skip("backoff")  # 3 ignored: every 2 days
    assert decide(facts(last_reminder_day=3, ignored_in_row=3), book=book) is None
    assert decide(facts(last_reminder_day=2, ignored_in_row=4), book=book) == Skip("backoff")
    assert decide(facts(last_reminder_day=1, ignored_in_row=4), book=book) is None


def test_ignored_in_row_counts_reminders_without_a_checkin_within_24_hours() -> None:
    t0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
    sent = [t0 + timedelta(days=i) for i in range(4)]
    assert rules.ignored_in_row(sent, []) == 4
    assert rules.ignored_in_row(sent, [sent[1] + timedelta(hours=3)]) == 2
    assert rules.ignored_in_row(sent, [sent[3] + timedelta(hours=23)]) == 0
    assert rules.ignored_in_row(sent, [sent[3] + timedelta(hours=25)]) == 4  # too late for any


def test_a_variant_is_never_the_one_sent_last_time() -> None:
    variants = BOOK.variants("reminder", "slipping")
    last: str | None = None
    for day in range(1, 30):
        choice = rules.pick_variant(variants, f"c/s/reminder/{day}", last)
        assert choice.id != last
        last = choice.id
    assert rules.pick_variant(variants, "k", None) == rules.pick_variant(variants, "k", None)


def test_messages_are_rendered_with_the_students_details() -> None:
    [praise] = [t for t in BOOK.variants("praise", "active") if t.id == "praise-specific"]
    text = rules.render(praise, name="小明", last_work="账号拆解", score=96, streak=9)
    assert "小明" in text and "《账号拆解》" in text and "96分" in text and "9天" in text
    assert rules.render(Template(id="t", text="{name}{day}"), name="A") == "A"


def test_the_shipped_templates_cover_every_segment_that_is_nudged() -> None:
    for kind, segment in [
        ("reminder", "never"),
        ("reminder", "slipping"),
        ("reminder", "lapsed"),
        ("praise", "active"),
        ("welcome_back", "lapsed"),
    ]:
        assert len(BOOK.variants(kind, segment)) >= 2


def test_a_template_with_an_unknown_placeholder_is_refused_with_its_line(tmp_path: Path) -> None:
    text = DEFAULT_NUDGES_FILE.read_text(encoding="utf-8").replace(
        "第{day}天的小练习", "第{dya}天的小练习"
    )
    path = tmp_path / "nudges.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nudges.yaml:\d+: templates.reminder.slipping.0.text"):
        load_yaml(path, NudgeBook)


def test_a_missing_segment_of_templates_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nudges.yaml"
    path.write_text(
        "templates:\n  reminder:\n    slipping: [{id: a, text: hi}]\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"templates\.reminder\.never is missing"):
        load_yaml(path, NudgeBook)


def test_local_midnight_starts_the_camp_day() -> None:
    midnight = rules.at_local(START, SH, 2, "00:00")
    assert midnight.astimezone(ZoneInfo(SH)).strftime("%Y-%m-%d %H:%M") == "2026-11-21 00:00"


@pytest.mark.parametrize(
    ("hhmm", "due"),
    [
        ("07:30", "08:00"),  # morning quiet hours: at their end, the same day
        ("00:10", "08:00"),
        ("08:00", "08:00"),
        ("21:59", "21:59"),
        ("22:00", "22:00"),  # evening quiet hours: never moved to another day (then skipped)
        ("23:30", "23:30"),
    ],
)
def test_a_reminder_time_in_the_morning_quiet_hours_waits_for_their_end(
    hhmm: str, due: str
) -> None:
    start = date(2026, 11, 20)
    assert rules.reminder_due(start, SH, 3, hhmm, BOOK.quiet_hours) == rules.at_local(
        start, SH, 3, due
    )


LAPSE_CAMP_START = date(2026, 11, 1)  # camp day N is November N, Shanghai time


def reported_on(day: int, hhmm: str = "09:00") -> int:
    """When a check-in was reported, as the rules read it (microseconds since the epoch)."""
    hour, minute = (int(p) for p in hhmm.split(":"))
    local = datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))
    return micros(local)


@pytest.mark.parametrize(
    ("reported", "day", "expected"),
    [
        ([], 5, None),  # a first check-in is no return
        ([1, 2, 3], 4, None),  # active
        ([1, 2], 4, None),  # one day missed: slipping, not lapsed
        ([1, 2], 5, None),  # days 3 and 4 missed: slipping
        ([1, 2], 6, ("after-day-2", 3)),
        ([1, 2, 6], 6, ("after-day-2", 3)),  # something else reported today: same return
    ],
)
def test_a_return_from_a_lapse_is_judged_by_when_check_ins_were_reported(
    reported: list[int], day: int, expected: tuple[str, int] | None
) -> None:
    got = rules.returning_from_lapse(
        [reported_on(d) for d in reported], day, LAPSE_CAMP_START, "Asia/Shanghai"
    )
    assert got == expected


def test_make_up_check_ins_reported_late_are_one_return_not_several() -> None:
    """Make-ups for days 2, 3 and 4, all reported on day 31 (one after another): the first is
    the return after the lapse; the others find the student active on day 31, and the lapse
    they would name is the same one, so no second welcome-back or gift is due."""
    first = rules.returning_from_lapse([reported_on(1)], 20, LAPSE_CAMP_START, "Asia/Shanghai")
    assert first == ("after-day-1", 18)
    later = rules.returning_from_lapse(
        [reported_on(1), reported_on(20, "10:00")], 20, LAPSE_CAMP_START, "Asia/Shanghai"
    )
    assert later == first  # the same lapse id: welcome_lapses pays it once
    next_day = rules.returning_from_lapse(
        [reported_on(1), reported_on(20, "10:00")], 21, LAPSE_CAMP_START, "Asia/Shanghai"
    )
    assert next_day is None  # active yesterday


def test_a_check_in_reported_at_midnight_belongs_to_the_new_day_to_the_microsecond() -> None:
    """Day 6 begins at 00:00 Shanghai time: a report one microsecond before is the last
    activity before a lapse (days 2-5 missed); one at 00:00 is day 6's own."""
    midnight = reported_on(6, "00:00")
    last_of_day_5 = rules.returning_from_lapse(
        [reported_on(1), midnight - 1], 6, LAPSE_CAMP_START, "Asia/Shanghai"
    )
    assert last_of_day_5 is None  # day 5 was active: no lapse
    first_of_day_6 = rules.returning_from_lapse(
        [reported_on(1), midnight], 6, LAPSE_CAMP_START, "Asia/Shanghai"
    )
    assert first_of_day_6 == ("after-day-1", 4)


def _returns_by_definition(
    reported_us: list[int], starts_on: date, timezone: str, leave: set[int]
) -> list[tuple[int, str, int, int]]:
    """A return on each day a student was active whose segment, judged from the day they were
    last active before it (that day's own leave aside), is lapsed."""
    first: dict[int, int] = {}
    for us in reported_us:
        d = camp_day(starts_on, timezone, instant(us))
        first[d] = min(us, first.get(d, us))
    out = []
    for last, d in pairwise(sorted(first)):
        if rules.segment_on([last], d, leave - {d}) == "lapsed":
            out.append((d, f"after-day-{last}", rules.days_missed([last], d, leave), first[d]))
    return out


@settings(max_examples=300, deadline=None)
@given(
    reports=st.lists(st.integers(-3 * 86_400, 200 * 86_400), max_size=25),
    leave=st.sets(st.integers(-2, 40), max_size=8),
)
def test_returns_are_every_lapse_in_a_history(reports: list[int], leave: set[int]) -> None:
    start = micros(datetime(2026, 11, 20, tzinfo=ZoneInfo(SH)))
    reported = [start + s * 1_000_000 for s in reports]
    got = rules.returns(reported, START, SH, leave)
    assert [(r.day, r.lapse, r.missed, r.at_us) for r in got] == _returns_by_definition(
        reported, START, SH, leave
    )
