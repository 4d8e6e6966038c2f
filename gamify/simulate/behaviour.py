"""Simulated students (pure, seeded): who they are, and what each does on a camp day given
what the services told them. The brief's four kinds of students: those who check in daily,
those who miss now and then, those who lapse and sometimes come back, and those who never
start. Reminders and welcome-backs change the odds, so the loop through the services is closed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

PROFILES = ("daily", "occasional", "lapsing", "never")
DEFAULT_MIX = {"daily": 0.35, "occasional": 0.30, "lapsing": 0.25, "never": 0.10}


@dataclass(frozen=True, slots=True)
class Tuning:
    """How strongly students react to the services (probabilities)."""

    reminder_lift: float = 0.30  # evening check-in chance of a reminded student who had not
    welcome_back_stay: float = 0.25  # added to the daily chance for a week after a welcome-back
    return_after_lapse: float = 0.08  # chance a lapsed student comes back on a day, unreminded
    submit: float = 0.5  # a checked-in student hands in the day's homework
    contest_entry: float = 0.2
    share: float = 0.15
    excellent_score: int = 90
    vote: float = 0.3  # a checked-in student votes that day (1 to 3 votes)
    redeem: float = 0.02
    personal_time: float = 0.1  # students who set their own reminder time
    opt_out: float = 0.03
    # the learning loop (gamify/simulate/loop.py)
    homework_early: float = 0.12  # a checked-in student hands in an open practice that day
    homework_due_day: float = 0.3  # ... on its due day, unprompted
    homework_lift: float = 0.45  # ... in the evening of a homework nudge
    ask: float = 0.06  # a checked-in student asks a question
    classmate_answers: float = 0.3  # a classmate answers it too
    leave: float = 0.05  # a student takes 2-3 days of leave (reported the day before)
    answer_slow: float = 0.12  # staff take longer than 5 hours


@dataclass(slots=True)
class Student:
    student_id: str
    name: str
    profile: str
    lapse_day: int  # lapsing students drop off from this day
    reminder_time: str | None
    opt_out: bool
    checked_days: set[int] = field(default_factory=set)
    stay_boost_until: int = 0
    reminded_on: set[int] = field(default_factory=set)
    handed: set[str] = field(default_factory=set)  # practices and challenges handed in
    leave_days: set[int] = field(default_factory=set)


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "小明丽华伟芳娜静敏强磊军洋勇艳杰涛超秀霞平刚桂英"


def make_students(
    n: int, rng: random.Random, mix: dict[str, float], days: int, tuning: Tuning
) -> list[Student]:
    profiles = list(mix)
    weights = [mix[p] for p in profiles]
    students = []
    for i in range(n):
        profile = rng.choices(profiles, weights)[0]
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        personal = rng.random() < tuning.personal_time
        students.append(
            Student(
                student_id=f"stu-{i:05d}",
                name=name,
                profile=profile,
                lapse_day=rng.randint(3, max(4, days // 2)),
                reminder_time=rng.choice(["07:30", "12:30", "19:00", "21:00"])
                if personal
                else None,
                opt_out=rng.random() < tuning.opt_out,
            )
        )
    return students


def plan_leaves(
    students: list[Student], days: int, rng: random.Random, tuning: Tuning
) -> dict[str, tuple[int, int]]:
    """The leaves students will take: student -> (from_day, to_day)."""
    out: dict[str, tuple[int, int]] = {}
    for s in students:
        if s.profile == "never" or days < 8 or rng.random() >= tuning.leave:
            continue
        first = rng.randint(3, days - 4)
        last = first + rng.randint(1, 2)
        s.leave_days = set(range(first, last + 1))
        out[s.student_id] = (first, last)
    return out


def daytime_chance(s: Student, day: int, tuning: Tuning) -> float:
    """The chance the student checks in during the day, before any reminder."""
    if day in s.leave_days:
        return 0.0
    missed_yesterday = day > 1 and (day - 1) not in s.checked_days
    if s.profile == "daily":
        p = 0.93
    elif s.profile == "occasional":
        p = 0.65
    elif s.profile == "lapsing":
        if day < s.lapse_day:
            p = 0.85
        elif s.checked_days and max(s.checked_days) >= s.lapse_day:
            p = 0.55  # came back: shakier than before
        else:
            p = tuning.return_after_lapse
    else:
        p = 0.0
    if missed_yesterday and s.profile != "never":
        p *= 0.8
    if day <= s.stay_boost_until:
        p = min(1.0, p + tuning.welcome_back_stay)
    return p


def evening_chance(s: Student, day: int, reminded: bool, tuning: Tuning) -> float:
    """The chance of a check-in in the evening by a student who has not checked in today."""
    if day in s.leave_days:
        return 0.0
    if not reminded:
        return 0.03 if s.profile != "never" else 0.0
    if s.profile == "never":
        return tuning.reminder_lift / 3
    return tuning.reminder_lift


def review_score(s: Student, rng: random.Random) -> int:
    base = {"daily": 82, "occasional": 76, "lapsing": 74, "never": 70}[s.profile]
    return max(0, min(100, round(rng.gauss(base, 9))))
