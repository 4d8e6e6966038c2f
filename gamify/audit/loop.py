"""The learning loop recomputed from the inputs (gamify audit): each work's first review and
each question's first staff answer as the nudges service keeps them, and homework nudges only
on a day a practice or challenge is due."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from gamify.audit.base import AuditBase, _rows
from shared import topics
from shared.camp_days import camp_day
from shared.events import Answer, Question, Review, Submission
from shared.homework import REMINDED_TIERS, STAFF_ROLES

Key = tuple[str, str]
E = TypeVar("E", Submission, Review, Question, Answer)


def _earliest(into: dict[Key, datetime], key: Key, at: datetime) -> None:
    into[key] = min(into.get(key, at), at)


class LoopAudit(AuditBase):
    async def _loop(
        self, conn: asyncpg.Connection, outputs: dict[str, list[dict[str, Any]]]
    ) -> None:
        if not await conn.fetchval("SELECT to_regclass('nudges.questions') IS NOT NULL"):
            return  # no nudges service here, or one from before the learning loop
        await self._first_reviews(conn)
        await self._first_answers(conn)
        self._homework_days(outputs[topics.NUDGES])

    async def _first_reviews(self, conn: asyncpg.Connection) -> None:
        works = {(s.camp_id, s.submission_id) for s in self._all(topics.SUBMISSIONS, Submission)}
        first: dict[Key, datetime] = {}
        for r in self._all(topics.REVIEWS, Review):  # counted reviews only (integrity applied)
            if (r.camp_id, r.submission_id) in works:
                _earliest(first, (r.camp_id, r.submission_id), r.occurred_at)
        held = {
            (r["camp_id"], r["submission_id"]): r["first_review_at"]
            for r in await _rows(
                conn,
                "SELECT camp_id, submission_id, first_review_at FROM nudges.works"
                " WHERE tier IS NOT NULL AND ($1::text IS NULL OR camp_id = $1)",
                self.camp,
            )
        }
        for key in sorted(set(held) | {k for k in works if self._mine(k[0])}):
            if held.get(key) != first.get(key):
                said = f"first review {held.get(key)}, inputs say {first.get(key)}"
                self.differ("reviews", "/".join(key), said)

    async def _first_answers(self, conn: asyncpg.Connection) -> None:
        asked: dict[Key, datetime] = {}
        for q in self._all(topics.QUESTIONS, Question):
            _earliest(asked, (q.camp_id, q.question_id), q.occurred_at)
        answered: dict[Key, datetime] = {}
        for a in self._all(topics.ANSWERS, Answer):
            if a.answerer_role in STAFF_ROLES:
                _earliest(answered, (a.camp_id, a.question_id), a.occurred_at)
        held = {
            (r["camp_id"], r["question_id"]): (r["asked_at"], r["first_answer_at"])
            for r in await _rows(
                conn,
                "SELECT camp_id, question_id, asked_at, first_answer_at FROM nudges.questions"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        }
        for key in sorted(set(held) | set(asked) | set(answered)):
            want = (asked.get(key), answered.get(key))
            if held.get(key, (None, None)) != want:
                self.differ("questions", "/".join(key), f"kept {held.get(key)}, inputs say {want}")

    def _homework_days(self, nudges: list[dict[str, Any]]) -> None:
        camps = {c.camp_id: c for c in self._latest_camps()}
        for n in nudges:
            if n["kind"] != "homework":
                continue
            camp = camps.get(n["camp_id"])
            due = datetime.fromisoformat(n["due_at"].replace("Z", "+00:00"))
            day = camp_day(camp.starts_on, camp.timezone, due) if camp else None
            if camp is None or not any(
                a.due_day == day and a.tier in REMINDED_TIERS for a in camp.assignments
            ):
                self.differ(
                    "nudges", f"{n['camp_id']}/{n['student_id']}/{day}", "homework with nothing due"
                )

    def _all(self, topic: str, kind: type[E]) -> list[E]:
        return [e for e in self.events[topic] if isinstance(e, kind) and self._mine(e.camp_id)]
