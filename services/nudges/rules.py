"""Pure nudge rules: segments, when a reminder is due, whether it may be sent, which variant,
and the rendered message. No I/O, no clock reads, no globals."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.nudges.config import NudgeBook, QuietHours, Template
from shared.camp_days import camp_days_of_micros, micros
from shared.events import Segment
from shared.leave import NO_LEAVE, gap_days, position, renumber


def segment_on(days: Collection[int], day: int, leave: Collection[int] = NO_LEAVE) -> Segment:
    """The student's segment on camp day `day`, from the days checked in before it.

    `never` until a first check-in (a first check-in today makes the student active);
    `on_leave` on a day of leave; days of leave do not count as missed.
    """
    if day in leave:
        return "on_leave"
    last = max((d for d in days if d < day), default=None)
    if last is None:
        return "active" if day in days else "never"
    return _segment_after(gap_days(last + 1, day - 1, leave))


def _segment_after(missed: int) -> Segment:
    """The segment of a student who missed `missed` days (leave not counted) since their last
    check-in."""
    if missed == 0:
        return "active"
    return "slipping" if missed <= 2 else "lapsed"


def days_missed(days: Collection[int], day: int, leave: Collection[int] = NO_LEAVE) -> int:
    """Consecutive days without a check-in ending at day - 1, leave days not counted."""
    before = [d for d in days if d < day]
    return gap_days(max(before) + 1 if before else 1, day - 1, leave)


@dataclass(frozen=True, slots=True)
class Return:
    """A student coming back after a lapse."""

    day: int  # the camp day they came back on (when they reported, not the day checked in for)
    lapse: str  # the lapse's id, naming the last active day before it: one gift per lapse
    missed: int  # days without a check-in before the return
    at_us: int  # the first report of that day (microseconds since the epoch)


def returns(
    reported_us: Iterable[int], starts_on: date, timezone: str, leave: Collection[int] = NO_LEAVE
) -> list[Return]:
    """Every return from a lapse in a student's history, from when each check-in was reported
    (microseconds since the epoch, see `micros`), whatever order or batches they arrived in.

    Judged by when the student was active, not by the day numbers checked in: make-up
    check-ins for days 2, 3 and 4 all reported on day 31 are one return after one lapse (one
    welcome-back, one gift), not three.
    """
    # Walked for every student a batch touches, over their whole history: the day starts are
    # looked up once, and each gap counted once (a 12-day history: 14-18 -> 4.4-5.4 us).
    reported_us = list(reported_us)
    first_report: dict[int, int] = {}
    for d, us in zip(
        camp_days_of_micros(starts_on, timezone, reported_us), reported_us, strict=True
    ):
        if d not in first_report or us < first_report[d]:
            first_report[d] = us
    out: list[Return] = []
    last: int | None = None
    for d in sorted(first_report):
        if last is not None:
            missed = gap_days(last + 1, d - 1, leave)  # d itself is outside the gap
            if _segment_after(missed) == "lapsed":
                out.append(Return(d, f"after-day-{last}", missed, first_report[d]))
        last = d
    return out


def returning_from_lapse(
    reported_us: Iterable[int],
    day: int,
    starts_on: date,
    timezone: str,
    leave: Collection[int] = NO_LEAVE,
) -> tuple[str, int] | None:
    """(the lapse's id, days missed) when a student checking in on camp day `day` was away
    long enough to be lapsed; None otherwise. `reported_us`: when each of the student's
    earlier check-ins was reported (see `returns`)."""
    today = micros(at_local(starts_on, timezone, day, "00:00"))
    earlier = [us for us in reported_us if us < today]
    back = next(
        (r for r in returns([*earlier, today], starts_on, timezone, leave) if r.day == day), None
    )
    return (back.lapse, back.missed) if back else None


@dataclass(frozen=True, slots=True)
class BackFromLeave:
    """A student's first check-in after a leave they kept (no check-in during it)."""

    day: int  # the camp day checked in for
    leave_from: int
    leave_to: int
    at_us: int  # when that check-in was reported


def backs_from_leave(reported: Mapping[int, int], leave: Collection[int]) -> list[BackFromLeave]:
    """For each run of consecutive leave days without a check-in, the first check-in after
    it; `reported`: checked-in day -> when it was reported (microseconds, see `micros`)."""
    out: list[BackFromLeave] = []
    days = sorted(leave)
    runs: list[tuple[int, int]] = []
    for d in days:
        if runs and d == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    for first, last in runs:
        if any(first <= d <= last for d in reported):
            continue  # checked in while on leave: no break to come back from
        after = [d for d in reported if d > last]
        if after:
            d = min(after)
            out.append(BackFromLeave(d, first, last, reported[d]))
    return out


def first_work_after_return(
    reported: Mapping[int, int],
    leave: Collection[int],
    works_at: Iterable[datetime],
    handed_at: datetime,
    starts_on: date,
    timezone: str,
) -> bool:
    """Whether a work handed in at `handed_at` is the student's first since they came back
    from a lapse (`works_at`: when each of their works was handed in, this one included)."""
    at = micros(handed_at)
    back = [
        r.at_us for r in returns(reported.values(), starts_on, timezone, leave) if r.at_us <= at
    ]
    if not back:
        return False
    since = max(back)
    return not any(since <= micros(w) < at for w in works_at)


def judge_back_from_leave(
    reported: Mapping[int, int], leave: Collection[int], day: int, starts_on: date, timezone: str
) -> Skip | None:
    """None to send the welcome back from a break proposed for check-in day `day`; a student
    who was lapsed before the leave came back from a lapse (welcome_back, with the gift)."""
    if not any(b.day == day for b in backs_from_leave(reported, leave)):
        return Skip("not_back")
    returned = returns(reported.values(), starts_on, timezone, leave)
    if any(r.day == day for r in returned):
        return Skip("welcomed")
    return None


def current_streak(days: Collection[int], day: int, leave: Collection[int] = NO_LEAVE) -> int:
    """Consecutive checked-in days ending today, else yesterday (leave days skipped)."""
    upto = {d for d in days if d <= day}
    have = set(renumber(upto, leave))
    today = position(day, upto, leave)
    end = today if day in upto else today - 1
    run = 0
    while end - run in have:
        run += 1
    return run


def at_local(starts_on: date, timezone: str, day: int, clock_time: str) -> datetime:
    """The instant of `clock_time` (HH:MM) on camp day `day`, in the camp's timezone."""
    hour, minute = (int(p) for p in clock_time.split(":"))
    local_date = starts_on + timedelta(days=day - 1)
    return datetime.combine(local_date, time(hour, minute), ZoneInfo(timezone))


def in_quiet_hours(at: datetime, timezone: str, quiet: QuietHours) -> bool:
    """True when `at` falls in the quiet hours (e.g. 22:00-08:00) of the camp's timezone."""
    local = at.astimezone(ZoneInfo(timezone)).time()
    start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def after_quiet_hours(at: datetime, timezone: str, quiet: QuietHours) -> datetime:
    """`at`, or the end of the quiet hours it falls in (for praise and welcome-backs)."""
    if not in_quiet_hours(at, timezone, quiet):
        return at
    tz = ZoneInfo(timezone)
    local = at.astimezone(tz)
    end = time.fromisoformat(quiet.end)
    candidate = datetime.combine(local.date(), end, tz)
    return candidate if candidate > local else candidate + timedelta(days=1)


def reminder_due(
    starts_on: date, timezone: str, day: int, clock_time: str, quiet: QuietHours
) -> datetime:
    """When the reminder of camp day `day` at `clock_time` is due: that time, or, when it falls
    in the morning's quiet hours, their end on the same date (a 07:30 reminder comes at 08:00).
    A time in the evening's quiet hours stays where it is: it will be skipped, never moved to
    another day."""
    due = at_local(starts_on, timezone, day, clock_time)
    moved = after_quiet_hours(due, timezone, quiet)
    return moved if moved.date() == due.date() else due


@dataclass(frozen=True, slots=True)
class ReminderFacts:
    """What is known of a student when one of their reminders comes due."""

    segment: Segment
    checked_in_today: bool
    opted_out: bool
    enrolled: bool
    last_reminder_day: int | None
    ignored_in_row: int


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


SEND = None


def decide_reminder(
    facts: ReminderFacts,
    day: int,
    due_at: datetime,
    now: datetime,
    timezone: str,
    book: NudgeBook,
) -> Skip | None:
    """None to send the reminder now, else why it is not sent (each reason is counted)."""
    skip = _who(facts)
    if skip is not None:
        return skip
    if facts.checked_in_today:
        return Skip("checked_in")
    if facts.segment == "active":
        return Skip("active")
    skip = _when(due_at, now, timezone, book)
    if skip is not None:
        return skip
    last = facts.last_reminder_day
    if last is not None:
        gap = day - last
        if gap < 1:
            return Skip("capped")
        if facts.segment == "lapsed" and gap < book.caps.lapsed_every_days:
            return Skip("capped")
        if facts.segment == "never" and gap < book.caps.never_every_days:
            return Skip("capped")
        if book.backoff.enabled and facts.ignored_in_row >= book.backoff.after_ignored:
            steps = facts.ignored_in_row - book.backoff.after_ignored + 1
            if gap < min(2**steps, book.backoff.max_gap_days):
                return Skip("backoff")
    return SEND


# The nudges that may go out instead of the day's reminder, each with its reason when its
# templates are removed.
INSTEAD_OF_REMINDER = {"homework": "homework_off", "streak_saved": "saved_off"}


def decide_instead(
    kind: str,
    facts: ReminderFacts,
    day: int,
    due_at: datetime,
    now: datetime,
    timezone: str,
    book: NudgeBook,
) -> Skip | None:
    """None to send a `kind` nudge instead of the day's reminder: `homework` to a student with
    a practice or challenge due today and not handed in (shared.homework.due_for_reminder),
    `streak_saved` to one whose run a streak freeze held over yesterday. The reminder's
    opt-out, quiet hours and one-a-day cap hold, but neither a check-in today nor being active
    spares it, and the reminder's segment caps do not apply."""
    if kind not in book.templates:
        return Skip(INSTEAD_OF_REMINDER[kind])
    skip = _who(facts) or _when(due_at, now, timezone, book)
    if skip is not None:
        return skip
    if facts.last_reminder_day is not None and facts.last_reminder_day >= day:
        return Skip("capped")
    return SEND


def _who(facts: ReminderFacts) -> Skip | None:
    """Students who get no reminder or homework nudge at all today."""
    if not facts.enrolled:
        return Skip("not_enrolled")
    if facts.opted_out:
        return Skip("opted_out")
    if facts.segment == "on_leave":
        return Skip("on_leave")
    return None


def _when(due_at: datetime, now: datetime, timezone: str, book: NudgeBook) -> Skip | None:
    """Never in the quiet hours, and never once the due day is over."""
    if in_quiet_hours(due_at, timezone, book.quiet_hours) or in_quiet_hours(
        now, timezone, book.quiet_hours
    ):
        return Skip("quiet_hours")
    if now.astimezone(ZoneInfo(timezone)).date() != due_at.astimezone(ZoneInfo(timezone)).date():
        return Skip("expired")
    return None


TIER_NAMES = {"basic": "课后练习", "practice": "每周实践", "challenge": "月度挑战"}


def homework_words(tiers: Iterable[str]) -> str:
    """The {homework} of a template: what is due today, in the students' words."""
    return "、".join(TIER_NAMES[t] for t in sorted(set(tiers), key=list(TIER_NAMES).index))


def ignored_in_row(sent_at: Sequence[datetime], checkins_at: Sequence[datetime]) -> int:
    """How many of the latest reminders in a row had no check-in within 24 hours after them."""
    count = 0
    for moment in sorted(sent_at, reverse=True):
        if any(moment <= c <= moment + timedelta(hours=24) for c in checkins_at):
            break
        count += 1
    return count


def run_before_gap(days: Iterable[int], day: int, leave: Collection[int] = NO_LEAVE) -> int:
    """The run of consecutive checked-in days that ends at the last check-in before `day`."""
    before = set(renumber([d for d in days if d < day], leave))
    if not before:
        return 0
    last = max(before)
    run = 0
    while last - run in before:
        run += 1
    return run


def held_out(camp_id: str, student_id: str, share: float) -> bool:
    """Whether the student is in the camp's holdout: chosen by id, so the same students stay
    out for the whole camp and any replica agrees."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"holdout/{camp_id}/{student_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def pick_variant(variants: Sequence[Template], key: str, last_template_id: str | None) -> Template:
    """A deterministic variant for `key`, never the one the student got last time."""
    if len(variants) == 1:
        return variants[0]
    start = int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(variants)
    choice = variants[start]
    if choice.id == last_template_id:
        choice = variants[(start + 1) % len(variants)]
    return choice


class _Blank(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return ""


def render(template: Template, **values: object) -> str:
    return template.text.format_map(_Blank(values))
