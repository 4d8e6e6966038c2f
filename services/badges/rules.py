"""Pure badge rules: (facts about a student, the camp, the badge book) -> progress and awards.
No I/O, no clock, no globals."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from services.badges.config import Badge, Criteria, LessonCriterion
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
    return tuple(Progress(*step(facts, camp, days, run)) for step in _step_functions(criteria))


Step = tuple[str, int, int | None]  # criterion, current, target (None: not known yet)
# A criterion's progress from the student's facts, the camp, the counted days and longest run
StepOf = Callable[[StudentFacts, CampFacts | None, set[int], int], Step]


def _step_functions(c: Criteria) -> tuple[StepOf, ...]:
    """The badge's criteria that are set, each as a function, in the order they are judged."""
    steps: list[StepOf] = []
    if (streak := c.streak_days) is not None:
        steps.append(lambda facts, camp, days, run: ("streak_days", run, streak))
    if (checkins := c.checkin_days) is not None:
        steps.append(lambda facts, camp, days, run: ("checkin_days", len(days), checkins))
    if (share := c.checkin_share) is not None:
        steps.append(
            lambda facts, camp, days, run: (
                "checkin_share",
                len(days),
                _share_of(share, camp.days) if camp else None,
            )
        )
    if (excellent := c.excellent_works) is not None:
        steps.append(
            lambda facts, camp, days, run: ("excellent_works", len(facts.excellent), excellent)
        )
    if (lessons := c.lessons) is not None:
        steps.append(lambda facts, camp, days, run: _lessons_step(lessons, facts, camp))
    if (rate := c.homework_rate) is not None:
        steps.append(lambda facts, camp, days, run: _homework_step(rate, facts, camp))
    if (asked := c.questions_asked) is not None:
        steps.append(lambda facts, camp, days, run: ("questions_asked", facts.questions, asked))
    if (answers := c.answers_given) is not None:
        steps.append(lambda facts, camp, days, run: ("answers_given", facts.answers, answers))
    return tuple(steps)


def _lessons_step(lessons: LessonCriterion, facts: StudentFacts, camp: CampFacts | None) -> Step:
    floor = lessons.watched_ratio - 1e-9
    watched = sum(1 for r in facts.lesson_ratios.values() if r >= floor)
    if camp is None:
        return "lessons", watched, None
    return "lessons", min(watched, camp.lessons), _share_of(lessons.share, camp.lessons)


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


class BadgeJudge:
    """A book's badges with their criteria compiled once: `new_badges` runs for every badge of
    every student a batch touches (a generator of steps per badge cost twice as much)."""

    def __init__(self, badges: Sequence[Badge]) -> None:
        self._steps = [(b.id, _step_functions(b.criteria)) for b in badges]

    def new_badges(self, facts: StudentFacts, camp: CampFacts | None, held: set[str]) -> list[str]:
        """The badges earned now and not held yet, in the book's order; each badge judged up
        to its first unmet criterion."""
        days = counted_days(facts, camp)  # once per student, not once per badge
        run = longest_run(days, facts.leave)
        earned = []
        for badge_id, steps in self._steps:
            if badge_id in held:
                continue
            for step in steps:
                _, current, target = step(facts, camp, days, run)
                if target is None or current < target:
                    break
            else:
                earned.append(badge_id)
        return earned


def watch_ratio(watched_seconds: int, duration_seconds: int) -> float:
    """A lesson report's watched share, capped at 1 (players report seconds beyond the end)."""
    return min(watched_seconds / duration_seconds, 1.0)
