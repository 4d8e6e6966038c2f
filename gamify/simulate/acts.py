"""What simulated students do besides checking in: hand in practices and challenges, ask
questions (answered by staff and classmates), ask for leave. A part of the Player."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from gamify.simulate import loop
from gamify.simulate.behaviour import Student, Tuning
from shared import topics


class StudentActs:
    rng: random.Random
    students: list[Student]
    _to_review: list[tuple[Student, str]]
    _questions: int
    _leaves: dict[str, tuple[int, int]]
    _send: Callable[[str, str, dict[str, Any], datetime], Awaitable[None]]
    _at: Callable[..., datetime]
    _camp_id: str
    _tuning: Tuning

    async def _ask_for_leave(self, day: int) -> None:
        """Leaves are asked for the day before they start."""
        for student_id, (first, last) in sorted(self._leaves.items()):
            if first == day + 1:
                fields = {"camp_id": self._camp_id, "student_id": student_id}
                span = {"from_day": first, "to_day": last, "reason": "请假"}
                await self._send(
                    topics.LEAVES, student_id, {**fields, **span}, self._at(day, "12:00")
                )

    async def _hand_in(self, s: Student, work: loop.Homework, at: datetime) -> None:
        s.handed.add(work.assignment_id)
        sub = f"w-{s.student_id}-{work.assignment_id}"
        fields = {
            "camp_id": self._camp_id,
            "student_id": s.student_id,
            "submission_id": sub,
            "assignment_id": work.assignment_id,
            "tier": work.tier,
            "title": f"{work.assignment_id} 作业",
            "url": f"https://camp.example/works/{sub}",
            "contest_entry": False,
        }
        await self._send(topics.SUBMISSIONS, s.student_id, fields, at)
        self._to_review.append((s, sub))

    async def _ask(self, s: Student, category: str, at: datetime) -> None:
        """A question, its staff answer (sometimes first on the bus: any order is allowed),
        and now and then a classmate's answer too."""
        rng, tuning = self.rng, self._tuning
        self._questions += 1
        base = {
            "camp_id": self._camp_id,
            "student_id": s.student_id,
            "question_id": f"q-{self._questions}",
        }
        staff, role = loop.staff_role(rng)
        answered = at + timedelta(seconds=loop.staff_delay_s(rng, tuning))
        sends = [
            (topics.QUESTIONS, {**base, "category": category}, at),
            (topics.ANSWERS, {**base, "answerer_id": staff, "answerer_role": role}, answered),
        ]
        if rng.random() < 0.1:
            sends.reverse()
        if rng.random() < tuning.classmate_answers:
            mate = rng.choice(self.students)
            if mate is not s:
                answer = {**base, "answerer_id": mate.student_id, "answerer_role": "student"}
                sends.append((topics.ANSWERS, answer, at + timedelta(minutes=rng.randint(10, 90))))
        for topic, fields, when in sends:
            await self._send(topic, s.student_id, fields, when)
