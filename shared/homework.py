"""The learning loop's pure rules (contract, "The learning loop"): what homework was due, what
was on time, a student's homework rate, who is to be reminded of homework today, and how long
a work or a question waited. No I/O, no clock reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from shared.camp_days import camp_day
from shared.events import Assignment, Tier

TIERS: tuple[Tier, ...] = ("basic", "practice", "challenge")
# The tiers the homework nudge reminds of: a basic exercise follows each lesson and is the
# check-in reminder's business; practices and challenges are the ones students forget.
REMINDED_TIERS: frozenset[str] = frozenset({"practice", "challenge"})
REVIEW_TOO_LONG_S = 24 * 3600
ANSWER_TOO_LONG_S = 4 * 3600
STAFF_ROLES: frozenset[str] = frozenset({"teacher", "assistant"})

Status = Literal["on_time", "late", "missing", "open"]


def on_time(starts_on: date, timezone: str, assignment: Assignment, handed_in: datetime) -> bool:
    """Made by the end of the assignment's due day, in the camp's timezone."""
    return camp_day(starts_on, timezone, handed_in) <= assignment.due_day


def status(
    starts_on: date,
    timezone: str,
    assignment: Assignment,
    first_handed_in: datetime | None,
    today: int,
) -> Status:
    """`open` while the due day lasts and nothing is handed in; then on time, late or missing."""
    if first_handed_in is not None:
        return "on_time" if on_time(starts_on, timezone, assignment, first_handed_in) else "late"
    return "open" if today <= assignment.due_day else "missing"


@dataclass(frozen=True, slots=True)
class Rate:
    """On-time submissions of assignments due so far / assignments due so far."""

    on_time: int
    due: int

    @property
    def value(self) -> float | None:
        return self.on_time / self.due if self.due else None


@dataclass(frozen=True, slots=True)
class Homework:
    """A student's homework as of camp day `today`."""

    statuses: dict[str, Status]  # assignment_id -> status, in schedule order
    by_tier: dict[str, Rate]
    overall: Rate


def homework(
    starts_on: date,
    timezone: str,
    assignments: Sequence[Assignment],
    first_handed_in: Mapping[str, datetime],
    today: int,
) -> Homework:
    """The homework of one student from the earliest submission of each assignment.

    An assignment counts as due so far once its due day is over, or as soon as it is handed in
    on time: handing in early raises the rate at once, and a due day still under way never
    lowers it. Submissions of assignments outside the schedule count for nothing here.
    """
    statuses: dict[str, Status] = {}
    counts: dict[str, list[int]] = {t: [0, 0] for t in TIERS}
    for a in sorted(assignments, key=lambda a: (a.due_day, a.assignment_id)):
        s = status(starts_on, timezone, a, first_handed_in.get(a.assignment_id), today)
        statuses[a.assignment_id] = s
        if s != "open":
            counts[a.tier][1] += 1
            counts[a.tier][0] += s == "on_time"
    by_tier: dict[str, Rate] = {t: Rate(c[0], c[1]) for t, c in counts.items()}
    overall = Rate(sum(r.on_time for r in by_tier.values()), sum(r.due for r in by_tier.values()))
    return Homework(statuses, by_tier, overall)


def earliest(handed_in: Iterable[tuple[str, datetime]]) -> dict[str, datetime]:
    """assignment_id -> the first time it was handed in, from (assignment_id, when) pairs."""
    first: dict[str, datetime] = {}
    for assignment_id, at in handed_in:
        if assignment_id not in first or at < first[assignment_id]:
            first[assignment_id] = at
    return first


def due_for_reminder(
    assignments: Sequence[Assignment], day: int, handed_in: Iterable[str]
) -> list[Assignment]:
    """The practices and challenges due on camp day `day` that are not handed in yet: a
    student with any of them gets a `homework` nudge that day instead of a reminder."""
    done = set(handed_in)
    return [
        a
        for a in sorted(assignments, key=lambda a: a.assignment_id)
        if a.due_day == day and a.tier in REMINDED_TIERS and a.assignment_id not in done
    ]


def wait_seconds(since: datetime, until: datetime) -> float:
    """Seconds between two aware instants: exact across days and daylight-saving changes (a
    clock skewed backwards counts as no wait, never a negative one). In UTC: Python subtracts
    two times of one ZoneInfo by their wall clocks, an hour off across a change."""
    return max((until.astimezone(UTC) - since.astimezone(UTC)).total_seconds(), 0.0)


def is_first(known: datetime | None, candidate: datetime) -> bool:
    """Whether `candidate` is the first response so far (reviews and answers may arrive in
    any order: the earliest one is the first, whichever was taken in first)."""
    return known is None or candidate < known
