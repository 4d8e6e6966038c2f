"""The badges service's business step: record facts, re-evaluate the students they concern,
award what is newly earned, once per camp and student."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from services.badges import rules, store
from services.badges.config import BadgeBook
from services.badges.metrics import BadgesMetrics
from shared import leave_store, topics
from shared.config import Loaded
from shared.db import Writes, lock_keys
from shared.events import (
    Answer,
    BadgeAwarded,
    Camp,
    CheckIn,
    Event,
    Leave,
    LessonProgress,
    Question,
    Review,
    Submission,
)
from shared.outbox import OutMessage, derived_event_id
from shared.processor import Received

# Submissions for the homework rate, and for the integrity gate: a review counts once its
# submission is known. Questions and answers for each student's part in the Q&A corner.
INPUTS = [
    topics.CAMPS,
    topics.CHECKINS,
    topics.LESSONS,
    topics.REVIEWS,
    topics.SUBMISSIONS,
    topics.QUESTIONS,
    topics.ANSWERS,
    topics.LEAVES,  # days of leave neither break nor extend a streak
]

BookSource = Callable[[], Loaded[BadgeBook]]


class BadgesHandler:
    def __init__(
        self, book: BookSource, metrics: BadgesMetrics, leave_cap: int | None = None
    ) -> None:
        self._book = book
        self._metrics = metrics
        self._leave_cap = leave_cap
        self._judged: tuple[Loaded[BadgeBook], rules.BadgeJudge] | None = None

    def _judge_of(self, loaded: Loaded[BadgeBook]) -> rules.BadgeJudge:
        """The book's judge, compiled again only when the book in force changes."""
        if self._judged is None or self._judged[0] is not loaded:
            self._judged = (loaded, rules.BadgeJudge(loaded.model.badges))
        return self._judged[1]

    async def __call__(
        self, conn: asyncpg.Connection, events: Sequence[Received]
    ) -> list[OutMessage]:
        loaded = self._book()
        batch = _Batch.of(events)
        camps = batch.camps
        new_facts = batch.facts()
        await lock_keys(  # another replica may hold another topic of these students, or the camp
            conn,
            exclusive=[f"badges/camp/{c.camp_id}" for c in camps]
            + [f"badges/student/{c}/{s}" for (c, s), _ in new_facts],
            shared=[f"badges/camp/{c}" for (c, _), _ in new_facts],
        )
        await store.save_camps(conn, camps)
        facts = Writes()  # one round trip for them all
        store.add_facts(facts, batch.checkins, batch.lessons, batch.reviews)
        store.add_loop_facts(facts, batch.submissions, batch.questions, batch.student_answers())
        leave_store.add_leaves(facts, batch.leaves)
        await facts.send(conn)

        trigger: dict[store.Pair, Event] = {}
        for pair, e in new_facts:
            trigger[pair] = e
        if camps:  # a camp's definition can complete badges that waited for it
            latest = {c.camp_id: c for c in camps}
            for pair in await store.students_of(conn, set(latest)):
                trigger.setdefault(pair, latest[pair[0]])
        if not trigger:
            return []
        pairs = sorted(trigger)
        known = await store.load_students(
            conn,
            pairs,
            self._leave_cap,
            rules.facts_needed(loaded.model.badges),
            noting=sorted({pair for pair, _ in new_facts}),
        )
        judge = self._judge_of(loaded)
        earned = [
            store.NewAward(
                camp,
                student,
                badge_id,
                trigger[(camp, student)].event_id,
                trigger[(camp, student)].occurred_at,
            )
            for camp, student in pairs
            for badge_id in judge.new_badges(
                known.facts[(camp, student)],
                known.camps.get(camp),
                known.held[(camp, student)],
            )
        ]
        payloads = [_badge_event(a).model_dump_json() for a in earned]
        for a in await store.award(conn, earned, loaded.version, payloads):
            self._metrics.awarded.labels(a.badge_id).inc()
        return []  # the new awards' gamify.badges events are in the outbox already


@dataclass
class _Batch:
    camps: list[Camp] = field(default_factory=list)
    checkins: list[CheckIn] = field(default_factory=list)
    lessons: list[LessonProgress] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    leaves: list[Leave] = field(default_factory=list)

    @classmethod
    def of(cls, events: Sequence[Received]) -> _Batch:
        batch = cls()
        lists: dict[type, list[Any]] = {
            Camp: batch.camps,
            CheckIn: batch.checkins,
            LessonProgress: batch.lessons,
            Review: batch.reviews,
            Submission: batch.submissions,
            Question: batch.questions,
            Answer: batch.answers,
            Leave: batch.leaves,
        }
        for item in events:
            lists[type(item.event)].append(item.event)
        return batch

    def student_answers(self) -> list[Answer]:
        """Answers a student gave to another student's question (participation)."""
        return [
            a
            for a in self.answers
            if a.answerer_role == "student" and a.answerer_id != a.student_id
        ]

    def facts(self) -> list[tuple[store.Pair, Event]]:
        """Each new fact with the student whose badges it concerns: an answer concerns the
        student who gave it, not the asker its message is keyed by."""
        asked: list[CheckIn | LessonProgress | Review | Submission | Question | Leave] = [
            *self.checkins,
            *self.lessons,
            *self.reviews,
            *self.submissions,
            *self.questions,
            *self.leaves,
        ]
        return [((e.camp_id, e.student_id), e) for e in asked] + [
            ((a.camp_id, a.answerer_id), a) for a in self.student_answers()
        ]


def _badge_event(a: store.NewAward) -> BadgeAwarded:
    return BadgeAwarded(
        event_id=derived_event_id("badge", a.camp_id, a.student_id, a.badge_id),
        occurred_at=a.awarded_at,
        camp_id=a.camp_id,
        student_id=a.student_id,
        badge_id=a.badge_id,
        source_event_id=a.source_event_id,
    )
