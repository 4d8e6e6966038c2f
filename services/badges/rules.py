"""Pure badge rules: (facts about a student, the camp, the badge book) -> progress and awards.
No I/O, no clock, no globals."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from services.badges.config import Badge, Criteria
from shared.camp_days import longest_run
from shared.events import Assignment
from shared.homework import on_time


@dataclass(frozen=True, slots=True)
class CampFacts:
    camp_id: str
    days: int
    lessons: int
    starts_on: date | None = None  # None: a camp taken in before schedules were kept
    timezone: str | None = None
    assignments: tuple[Assignment, ...] = ()


@dataclass(frozen=True, slots=True)
class StudentFacts:
    """What the badges service knows of one student in one camp."""

    days: frozenset[int] = frozenset()
    excellent: frozenset[str] = frozenset()  # submission ids reviewed excellent
    lesson_ratios: Mapping[str, float] = field(default_factory=dict)  # best watched share
    handed_in: Mapping[str, datetime] = field(default_factory=dict)  # assignment -> first time
    questions: int = 0  # distinct questions asked
    answers: int = 0  # answers given to other students' questions
    leave: frozenset[int] = frozenset()  # days of leave: neither break nor extend a streak


@dataclass(frozen=True, slots=True)
class Progress:
    criterion: str
    current: int
    target: int | None  # None: cannot be known before the camp's definition arrives

    @property
    def met(self) -> bool:  # as new_badges judges a step
        return self.target is not None and self.current >= self.target


@dataclass(frozen=True, slots=True)
class Status:
    badge_id: str
    progress: tuple[Progress, ...]

    @property
    def earned(self) -> bool:
        return all(p.met for p in self.progress)


def counted_days(facts: StudentFacts, camp: CampFacts | None) -> set[int]:
    """Checked-in days, without days beyond the camp's length once it is known."""
    return {d for d in facts.days if camp is None or d <= camp.days}


def progress(
    criteria: Criteria, facts: StudentFacts, camp: CampFacts | None
) -> tuple[Progress, ...]:
    """How far the student is along each criterion of a badge."""
    return _progress(criteria, facts, camp, counted_days(facts, camp))


def _progress(
    criteria: Criteria, facts: StudentFacts, camp: CampFacts | None, days: set[int]
) -> tuple[Progress, ...]:
    run = longest_run(days, facts.leave)
    return tuple(Progress(*step) for step in _steps(criteria, facts, camp, days, run))


Step = tuple[str, int, int | None]  # criterion, current, target (None: not known yet)


def _steps(
    criteria: Criteria, facts: StudentFacts, camp: CampFacts | None, days: set[int], run: int
) -> Iterator[Step]:
    """Each criterion's progress, one at a time: `new_badges` stops at the first unmet one and
    builds no Progress objects (it runs for every badge of every student a batch touches)."""
    if criteria.streak_days is not None:
        yield "streak_days", run, criteria.streak_days
    if criteria.checkin_days is not None:
        yield "checkin_days", len(days), criteria.checkin_days
    if criteria.checkin_share is not None:
        target = _share_of(criteria.checkin_share, camp.days) if camp else None
        yield "checkin_share", len(days), target
    if criteria.excellent_works is not None:
        yield "excellent_works", len(facts.excellent), criteria.excellent_works
    if criteria.lessons is not None:
        floor = criteria.lessons.watched_ratio - 1e-9
        watched = sum(1 for r in facts.lesson_ratios.values() if r >= floor)
        if camp is None:
            yield "lessons", watched, None
        else:
            yield (
                "lessons",
                min(watched, camp.lessons),
                _share_of(criteria.lessons.share, camp.lessons),
            )
    if criteria.homework_rate is not None:
        yield _homework_step(criteria.homework_rate, facts, camp)
    if criteria.questions_asked is not None:
        yield "questions_asked", facts.questions, criteria.questions_asked
    if criteria.answers_given is not None:
        yield "answers_given", facts.answers, criteria.answers_given


def _homework_step(rate: float, facts: StudentFacts, camp: CampFacts | None) -> Step:
    """On-time hand-ins against the share of the whole schedule: it only grows, as an award
    is for good (a rate of what was due so far would give it on the first day)."""
    if camp is None or (camp.assignments and camp.starts_on is None):
        return "homework_rate", 0, None
    done = 0
    if camp.starts_on is not None and camp.timezone is not None:
        done = sum(
            1
            for a in camp.assignments
            if a.assignment_id in facts.handed_in
            and on_time(camp.starts_on, camp.timezone, a, facts.handed_in[a.assignment_id])
        )
    return "homework_rate", done, _share_of(rate, len(camp.assignments))


def _share_of(share: float, total: int) -> int:
    """The whole number of items that makes at least `share` of `total`."""
    return math.ceil(share * total - 1e-9)


def facts_needed(badges: Sequence[Badge]) -> frozenset[str]:
    """The StudentFacts fields some criterion of these badges reads: the store loads only
    those (each is a query per batch)."""
    needed: set[str] = set()
    for c in (b.criteria for b in badges):
        if c.streak_days is not None:
            needed |= {"days", "leave"}
        if c.checkin_days is not None or c.checkin_share is not None:
            needed.add("days")
        if c.excellent_works is not None:
            needed.add("excellent")
        if c.lessons is not None:
            needed.add("lesson_ratios")
        if c.homework_rate is not None:
            needed.add("handed_in")
        if c.questions_asked is not None or c.answers_given is not None:
            needed.add("questions_answers")
    return frozenset(needed)


def statuses(badges: Sequence[Badge], facts: StudentFacts, camp: CampFacts | None) -> list[Status]:
    return [Status(b.id, progress(b.criteria, facts, camp)) for b in badges]


def new_badges(
    badges: Sequence[Badge], facts: StudentFacts, camp: CampFacts | None, held: set[str]
) -> list[str]:
    """The badges earned now and not held yet, in the book's order."""
    days = counted_days(facts, camp)  # once per student, not once per badge
    run = longest_run(days, facts.leave)
    return [
        b.id
        for b in badges
        if b.id not in held
        and all(
            target is not None and current >= target
            for _, current, target in _steps(b.criteria, facts, camp, days, run)
        )
    ]


def watch_ratio(watched_seconds: int, duration_seconds: int) -> float:
    """A lesson report's watched share, capped at 1 (players report seconds beyond the end)."""
    return min(watched_seconds / duration_seconds, 1.0)
