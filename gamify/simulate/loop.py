"""The learning loop of a simulated camp (pure, seeded): the homework schedule of the brief (a
basic exercise after each lesson, a practice each week, a challenge each month), which homework
a student hands in on a day, the questions they ask, and how long teachers, assistants and
classmates take to answer. A homework nudge changes the odds, so a what-if with and without it
shows what it is worth."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from gamify.simulate.behaviour import Student, Tuning

CATEGORIES = (("content", 0.5), ("howto", 0.35), ("extension", 0.15))
HOUR = 3600


def schedule(days: int, lessons: int) -> list[dict[str, Any]]:
    """The camp's `assignments`: basic `b-N` due on lesson day N, practice `p-W` due on the
    last day of week W, challenge `c-M` due on day 30M (or the camp's last day)."""
    out = [
        {"assignment_id": f"b-{d}", "tier": "basic", "due_day": d}
        for d in range(1, min(lessons, days) + 1)
    ]
    out += [
        {"assignment_id": f"p-{w}", "tier": "practice", "due_day": min(7 * w, days)}
        for w in range(1, -(-days // 7) + 1)
    ]
    out += [
        {"assignment_id": f"c-{m}", "tier": "challenge", "due_day": min(30 * m, days)}
        for m in range(1, -(-days // 30) + 1)
    ]
    return out


@dataclass(frozen=True, slots=True)
class Homework:
    assignment_id: str
    tier: str
    due_day: int


WINDOW = {"practice": 7, "challenge": 30}  # days before its due day a piece of work is set


def open_work(plan: list[dict[str, Any]], day: int, handed: set[str]) -> list[Homework]:
    """The practices and challenges a student could hand in on `day`: set, not handed in, and
    not past due (a late one is still possible, but simulated students let it go)."""
    return [
        Homework(a["assignment_id"], a["tier"], a["due_day"])
        for a in plan
        if a["tier"] in WINDOW
        and a["assignment_id"] not in handed
        and 0 <= a["due_day"] - day < WINDOW[a["tier"]]
    ]


def hands_in(
    s: Student, work: Homework, day: int, nudged: bool, tuning: Tuning, rng: random.Random
) -> bool:
    """Whether the student hands in a practice or challenge on `day` (daytime, or the evening
    of a homework nudge)."""
    if s.profile == "never":
        return False
    if nudged:
        return rng.random() < tuning.homework_lift
    chance = tuning.homework_due_day if day == work.due_day else tuning.homework_early
    return rng.random() < chance * (0.5 if work.tier == "challenge" else 1.0)


def question(rng: random.Random, tuning: Tuning) -> str | None:
    """The category of a question a checked-in student asks today, or None."""
    if rng.random() >= tuning.ask:
        return None
    return rng.choices([c for c, _ in CATEGORIES], [w for _, w in CATEGORIES])[0]


def staff_delay_s(rng: random.Random, tuning: Tuning) -> int:
    """How long a teacher or assistant takes to answer: mostly within 2 hours, some slip past
    the 4-hour promise (an evening question answered the next morning)."""
    if rng.random() < tuning.answer_slow:
        return rng.randint(5 * HOUR, 14 * HOUR)
    return max(60, round(rng.lognormvariate(8.3, 0.6)))  # median about 70 minutes


def staff_role(rng: random.Random) -> tuple[str, str]:
    return ("teacher-1", "teacher") if rng.random() < 0.4 else ("assistant-1", "assistant")
