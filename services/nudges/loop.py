"""The learning loop in the nudges service (contract, "The learning loop"): how long works wait
for their first review and questions for their first answer by a teacher or assistant, the
teachers' queues, and each camp's homework rate, as metrics for the dashboards and alerts."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from prometheus_client import CollectorRegistry, Gauge, Histogram

from services.nudges import loop_store, store
from shared.camp_days import camp_day
from shared.events import Answer, Question, QuestionCategory, Review
from shared.homework import (
    ANSWER_TOO_LONG_S,
    REVIEW_TOO_LONG_S,
    STAFF_ROLES,
    TIERS,
    earliest,
    homework,
    wait_seconds,
)

HOUR = 3600.0
REVIEW_BUCKETS = tuple(h * HOUR for h in (1, 2, 4, 8, 12, 18, 24, 36, 48, 72, 120))
ANSWER_BUCKETS = tuple(h * HOUR for h in (0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 24, 48))
CATEGORIES: tuple[QuestionCategory, ...] = ("content", "howto", "extension")
REFRESH_EVERY_S = 15.0  # queue sizes and homework rates are re-read this often


class LoopMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.review_wait = Histogram(
            "gamify_review_wait_seconds",
            "From a work's submission to its first review, per camp (observed when the first"
            " review is taken in).",
            ["camp"],
            buckets=REVIEW_BUCKETS,
            registry=registry,
        )
        self.answer_wait = Histogram(
            "gamify_answer_wait_seconds",
            "From a question to its first answer by a teacher or assistant, per camp and category.",
            ["camp", "category"],
            buckets=ANSWER_BUCKETS,
            registry=registry,
        )
        self.queue = Gauge(
            "gamify_loop_queue_size",
            "Works waiting for a review (queue=reviews) and questions waiting for a staff answer"
            " (queue=questions), per camp.",
            ["camp", "queue"],
            registry=registry,
        )
        self.oldest = Gauge(
            "gamify_loop_queue_oldest_seconds",
            "How long the oldest waiting work or question has waited, per camp (0 when none).",
            ["camp", "queue"],
            registry=registry,
        )
        self.overdue = Gauge(
            "gamify_loop_queue_overdue",
            "Works waiting over 24 hours and questions over 4 hours, per camp.",
            ["camp", "queue"],
            registry=registry,
        )
        self.homework_rate = Gauge(
            "gamify_homework_rate",
            "On-time submissions of assignments due so far / assignments due so far, per camp"
            " and tier (tier=all: every tier), over the camp's enrolled students.",
            ["camp", "tier"],
            registry=registry,
        )

    def camp_seen(self, camp_id: str) -> None:
        """A camp's wait histograms exist from its arrival, at 0, so that rate() and
        increase() see its first observation."""
        self.review_wait.labels(camp_id)
        for category in CATEGORIES:
            self.answer_wait.labels(camp_id, category)


async def take_in(
    conn: asyncpg.Connection,
    reviews: Sequence[Review],
    questions: Sequence[Question],
    answers: Sequence[Answer],
    metrics: LoopMetrics,
) -> None:
    """Record first reviews and answers; observe the waits that became known."""
    first: dict[tuple[str, str], datetime] = {}
    for r in reviews:
        k = (r.camp_id, r.submission_id)
        first[k] = min(first.get(k, r.occurred_at), r.occurred_at)
    reviewed = [loop_store.FirstResponse(c, s, at) for (c, s), at in sorted(first.items())]
    for camp_id, wait in await loop_store.first_reviews(conn, reviewed):
        metrics.review_wait.labels(camp_id).observe(wait)
    facts = [
        loop_store.QuestionFacts(
            q.camp_id, q.question_id, q.student_id, q.category, asked_at=q.occurred_at
        )
        for q in questions
    ] + [
        loop_store.QuestionFacts(a.camp_id, a.question_id, a.student_id, answered_at=a.occurred_at)
        for a in answers
        if a.answerer_role in STAFF_ROLES
    ]
    for camp_id, category, wait in await loop_store.save_questions(conn, facts):
        metrics.answer_wait.labels(camp_id, category).observe(wait)


class LoopGauges:
    """Re-reads the queues and homework rates now and then (from the scheduler's pass)."""

    def __init__(self, pool: asyncpg.Pool, metrics: LoopMetrics) -> None:
        self._pool = pool
        self._metrics = metrics
        self._last = 0.0

    async def refresh(self, now: datetime, force: bool = False) -> None:
        if not force and time.monotonic() - self._last < REFRESH_EVERY_S:
            return
        self._last = time.monotonic()
        works, questions = await loop_store.queues(
            self._pool, now, REVIEW_TOO_LONG_S, ANSWER_TOO_LONG_S
        )
        m = self._metrics
        for gauge in (m.queue, m.oldest, m.overdue):
            gauge.clear()
        camps = await store.load_camps(self._pool)
        for camp_id in camps:  # every camp's series exist, at 0 when nothing waits
            for name in ("reviews", "questions"):
                for gauge in (m.queue, m.oldest, m.overdue):
                    gauge.labels(camp_id, name).set(0)
            m.camp_seen(camp_id)
        for name, rows in (("reviews", works), ("questions", questions)):
            for q in rows:
                m.queue.labels(q.camp_id, name).set(q.waiting)
                m.overdue.labels(q.camp_id, name).set(q.over)
                if q.oldest is not None:
                    m.oldest.labels(q.camp_id, name).set(wait_seconds(q.oldest, now))
        m.homework_rate.clear()
        for camp in camps.values():
            if camp.assignments:
                await self._homework_rate(camp, now)

    async def _homework_rate(self, camp: store.CampRow, now: datetime) -> None:
        today = camp_day(camp.starts_on, camp.timezone, now)
        students = await store.enrolled(self._pool, camp.camp_id)
        works = await loop_store.camp_handed_in(self._pool, camp.camp_id)
        totals = {t: [0, 0] for t in (*TIERS, "all")}
        for s in students:
            hw = homework(
                camp.starts_on, camp.timezone, camp.assignments, earliest(works.get(s, [])), today
            )
            for tier, rate in (*hw.by_tier.items(), ("all", hw.overall)):
                totals[tier][0] += rate.on_time
                totals[tier][1] += rate.due
        for tier, (on_time, due) in totals.items():
            if due:
                self._metrics.homework_rate.labels(camp.camp_id, tier).set(on_time / due)
