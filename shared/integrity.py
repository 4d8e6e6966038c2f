"""The contract's integrity rules (pure): what a check-in, a share or a review must be to count.

Every service applies them through one gate (shared.gate), so that points, badges, segments,
reminders and contests never disagree about what happened. No I/O, no clock, no globals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from shared.camp_days import camp_day
from shared.events import Camp, CheckIn, Review, Share, Submission, latest_camps

# Refusals that go to gamify.dlq, with these names as their error (contract, "Integrity").
FUTURE_DAY = "future_day"
NOT_OWN_SUBMISSION = "not_own_submission"
SELF_REVIEW = "self_review"
DEAD_LETTERED = (FUTURE_DAY, NOT_OWN_SUBMISSION, SELF_REVIEW)
# A make-up outside the configured window counts nowhere, but is no error of the sender's.
MAKEUP_WINDOW = "makeup_window"
REFUSALS = (*DEAD_LETTERED, MAKEUP_WINDOW)


@dataclass(frozen=True, slots=True)
class CampCalendar:
    """What judging a check-in needs of its camp."""

    camp_id: str
    starts_on: date
    timezone: str
    days: int | None = None  # its length, where known (shared/migrations/006)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why an event does not count: `reason` is one of REFUSALS, `detail` is for people."""

    reason: str
    detail: str

    @property
    def dead_lettered(self) -> bool:
        return self.reason in DEAD_LETTERED


def judge_checkin(
    checkin: CheckIn, camp: CampCalendar, makeup_window_days: int | None
) -> Verdict | None:
    """None when the check-in counts. A day that has not begun where the camp is (any day,
    before the camp starts) is refused; so is a make-up older than the window, when one is set."""
    today = camp_day(camp.starts_on, camp.timezone, checkin.occurred_at)
    if checkin.day > today:
        when = f"camp day {today}" if today >= 1 else "before the camp started"
        return Verdict(
            FUTURE_DAY,
            f"a check-in for day {checkin.day} made on {when}"
            f" ({checkin.occurred_at.isoformat()}, {camp.timezone}); day {checkin.day}"
            " had not begun",
        )
    if makeup_window_days is not None and today - checkin.day > makeup_window_days:
        return Verdict(
            MAKEUP_WINDOW,
            f"a make-up for day {checkin.day} made on camp day {today}: more than"
            f" {makeup_window_days} days late",
        )
    return None


def judge_review_alone(review: Review) -> Verdict | None:
    """What can be judged of a review before its submission is known."""
    if review.reviewer_id == review.student_id:
        return Verdict(
            SELF_REVIEW,
            f"{review.reviewer_id!r} reviewed their own submission {review.submission_id!r}",
        )
    return None


def judge_authorship(event: Share | Review, author: str) -> Verdict | None:
    """A share or review counts only for a submission by its own student_id (`author`)."""
    if author == event.student_id:
        return None
    what = "shared" if isinstance(event, Share) else "reviewed as"
    return Verdict(
        NOT_OWN_SUBMISSION,
        f"submission {event.submission_id!r} of camp {event.camp_id!r} is {author!r}'s,"
        f" {what} {event.student_id!r}'s",
    )


# What judge() says of an event whose camp or submission has not arrived yet.
WAITING = Verdict("waiting", "its camp or submission is not known yet")


def judge(
    event: CheckIn | Share | Review,
    camp: CampCalendar | None,
    author: str | None,
    makeup_window_days: int | None,
) -> Verdict | None:
    """None when the event counts; WAITING while what it needs is unknown (a check-in's camp,
    a share's or review's submission); otherwise why it counts nowhere."""
    if isinstance(event, CheckIn):
        return WAITING if camp is None else judge_checkin(event, camp, makeup_window_days)
    alone = judge_review_alone(event) if isinstance(event, Review) else None
    if alone is not None:
        return alone
    return WAITING if author is None else judge_authorship(event, author)


def judge_log(
    camps: Iterable[Camp],
    submissions: Iterable[Submission],
    events: Iterable[CheckIn | Share | Review],
    makeup_window_days: int | None,
) -> dict[str, Verdict | None]:
    """Every event's fate by event_id, as the gate decides it once all is known (for checking a
    whole log, e.g. gamify audit): a verdict, None (counts), or missing (still waiting)."""
    calendars = {
        c.camp_id: CampCalendar(c.camp_id, c.starts_on, c.timezone, c.days)
        for c in latest_camps(camps)
    }
    authors: dict[tuple[str, str], str] = {}
    for s in submissions:
        authors.setdefault((s.camp_id, s.submission_id), s.student_id)
    fates: dict[str, Verdict | None] = {}
    for e in events:
        author = None if isinstance(e, CheckIn) else authors.get((e.camp_id, e.submission_id))
        fate = judge(e, calendars.get(e.camp_id), author, makeup_window_days)
        if fate is not WAITING:
            fates[e.event_id] = fate
    return fates
