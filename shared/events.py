"""The bus contract as pydantic models: every input and output event of `contract.md`.

Validation is strict (no "10" -> 10, no 1 -> True), timestamps must carry an offset and unknown
extra fields are ignored, exactly as the contract's wire rules say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)


def _no_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold it
        raise ValueError("must not contain the NUL character")
    return value


Id = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_no_nul)]
Text = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_no_nul)]
Url = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_no_nul)]
Tier = Literal["basic", "practice", "challenge"]
Segment = Literal["never", "active", "slipping", "lapsed", "on_leave"]
NudgeKind = Literal[
    "reminder", "praise", "welcome_back", "homework", "back_from_leave", "streak_saved"
]
QuestionCategory = Literal["content", "howto", "extension"]
AnswererRole = Literal["teacher", "assistant", "student"]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError("must be a 24-hour time 'HH:MM', e.g. '20:30'")
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {value!r}") from exc
    return value


# Plausible times: far enough apart for any camp, near enough that date arithmetic (a camp's
# last day, a time zone's offset) can never overflow.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _check_day(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("must be between 1970-01-01 and 2200-01-01")
    return value


ClockTime = Annotated[str, AfterValidator(_check_hhmm)]
# Bounds as constraints, not a Python validator: checked in pydantic-core (1 us less per time)
Moment = Annotated[AwareDatetime, Field(ge=EARLIEST, lt=LATEST)]
CalendarDay = Annotated[date, AfterValidator(_check_day)]
TimeZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_check_timezone)]


class Event(BaseModel):
    """Fields every event of every topic carries."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    event_id: Id
    occurred_at: Moment


# ---- input topics (published by the platform) ----


class Assignment(BaseModel):
    """One piece of homework of a camp's schedule (contract, "The learning loop")."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    assignment_id: Id
    tier: Tier
    due_day: int = Field(ge=1, le=366)


class Camp(Event):
    camp_id: Id
    title: Text
    starts_on: CalendarDay
    days: int = Field(ge=1, le=366)
    timezone: TimeZoneName
    lessons: int = Field(ge=0, le=10_000)
    cohort_reminder_time: ClockTime
    # Absent or empty: no schedule is known and nothing is judged late.
    assignments: tuple[Assignment, ...] = Field(default=(), max_length=1000)

    @model_validator(mode="after")
    def _schedule_fits(self) -> Camp:
        seen: set[str] = set()
        for a in self.assignments:
            if a.due_day > self.days:
                raise ValueError(
                    f"assignment {a.assignment_id!r} is due on day {a.due_day},"
                    f" after the camp's last day {self.days}"
                )
            if a.assignment_id in seen:
                raise ValueError(f"assignment {a.assignment_id!r} is listed twice")
            seen.add(a.assignment_id)
        return self


class Enrollment(Event):
    camp_id: Id
    student_id: Id
    display_name: Annotated[
        str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_nul)
    ]


class Preference(Event):
    camp_id: Id
    student_id: Id
    reminder_time: ClockTime | None
    opt_out: bool


class CheckIn(Event):
    camp_id: Id
    student_id: Id
    day: int = Field(ge=1, le=366)


class LessonProgress(Event):
    camp_id: Id
    student_id: Id
    lesson_id: Id
    watched_seconds: int = Field(ge=0, le=10_000_000)
    duration_seconds: int = Field(gt=0, le=10_000_000)


class Submission(Event):
    camp_id: Id
    student_id: Id
    submission_id: Id
    assignment_id: Id
    tier: Tier
    title: Text
    url: Url
    contest_entry: bool


class Review(Event):
    camp_id: Id
    student_id: Id
    submission_id: Id
    reviewer_id: Id
    score: int = Field(ge=0, le=100)
    excellent: bool


class Share(Event):
    camp_id: Id
    student_id: Id
    submission_id: Id


class Vote(Event):
    camp_id: Id
    voter_id: Id
    submission_id: Id


class Question(Event):
    camp_id: Id
    student_id: Id
    question_id: Id
    category: QuestionCategory


class Answer(Event):
    camp_id: Id
    student_id: Id  # the asker
    question_id: Id
    answerer_id: Id
    answerer_role: AnswererRole


class Leave(Event):
    """A student's leave (请假) from camp day `from_day` to `to_day`, both included."""

    camp_id: Id
    student_id: Id
    from_day: int = Field(ge=1, le=366)
    to_day: int = Field(ge=1, le=366)
    reason: Text

    @model_validator(mode="after")
    def _in_order(self) -> Leave:
        if self.from_day > self.to_day:
            raise ValueError(f"from_day {self.from_day} is after to_day {self.to_day}")
        return self


class RedemptionRequest(Event):
    camp_id: Id
    student_id: Id
    request_id: Id
    item_id: Id
    cost: int = Field(gt=0, le=1_000_000_000)


# ---- output topics (published by the services) ----


class PointsEntry(Event):
    camp_id: Id
    student_id: Id
    delta: int
    rule_id: Id
    source_event_id: Id
    balance: int = Field(ge=0)


class RedemptionResult(Event):
    camp_id: Id
    student_id: Id
    request_id: Id
    item_id: Id
    cost: int
    status: Literal["accepted", "rejected"]
    reason: str


class BadgeAwarded(Event):
    camp_id: Id
    student_id: Id
    badge_id: Id
    source_event_id: Id


class Nudge(Event):
    camp_id: Id
    student_id: Id
    kind: NudgeKind
    segment: Segment
    template_id: Id
    message: str
    due_at: AwareDatetime


class SegmentChange(Event):
    camp_id: Id
    student_id: Id
    day: int = Field(ge=1, le=366)
    previous: Segment | None
    segment: Segment


class Gift(Event):
    camp_id: Id
    student_id: Id
    gift_id: Id
    reason: str


class RankedEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    rank: int = Field(ge=1)
    student_id: Id
    submission_id: Id
    votes: int = Field(ge=0)
    score: int | None
    # Beyond the contract's fields: whether this entry has the counted votes its rank's prizes
    # need (contests' min_votes_for_prize). Absent (an older publisher): at least one vote.
    prize: bool | None = None

    @property
    def earns_prize(self) -> bool:
        return self.prize if self.prize is not None else self.votes >= 1


class ContestResult(Event):
    camp_id: Id
    week: int = Field(ge=1)
    closed_at: AwareDatetime
    ranking: list[RankedEntry]


class DeadLetter(Event):
    service: str
    topic: str
    partition: int
    offset: int
    key: str | None
    value: str
    error: str


class ClockTick(BaseModel):
    """A tick of the simulated clock on `gamify.clock`."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    now: Moment


E = TypeVar("E", bound=Event)


def latest_by(events: Iterable[E], key: Callable[[E], Any]) -> list[E]:
    """The latest event (by occurred_at) for each key, whatever order they arrived in, in key
    order (the order rows are locked in)."""
    latest: dict[Any, E] = {}
    for e in events:
        k = key(e)
        if k not in latest or e.occurred_at > latest[k].occurred_at:
            latest[k] = e
    return [latest[k] for k in sorted(latest)]


def latest_camps(camps: Iterable[Camp]) -> list[Camp]:
    return latest_by(camps, lambda c: c.camp_id)
