"""Plays a simulated camp through the running services over the real broker, on the topic
clock: day by day it publishes what the students do, moves the clock, waits until every
service has taken everything in, and lets students react to the nudges they were sent."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gamify.simulate import behaviour, loop, waiting
from gamify.simulate.acts import StudentActs
from gamify.simulate.behaviour import Student, Tuning
from gamify.simulate.progress import Progress
from gamify.simulate.waiting import poll_database
from shared import topics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CampPlan:
    camp_id: str = "sim-camp"
    students: int = 1000
    days: int = 21
    lessons: int = 21
    starts_on: date = date(2026, 12, 1)
    timezone: str = "Asia/Shanghai"
    cohort_time: str = "20:00"
    seed: int = 7
    mix: dict[str, float] = field(default_factory=lambda: dict(behaviour.DEFAULT_MIX))
    tuning: Tuning = field(default_factory=Tuning)


class Player(StudentActs):
    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        database_url: str,
        plan: CampPlan,
        progress: Progress | None = None,
        duplicate: bool = False,
    ) -> None:
        self.duplicate = duplicate  # deliver every input event twice (a fault test)
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.database_url = database_url
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.progress = progress or Progress(plan.days, quiet=True)
        self.sent: Counter[str] = Counter()
        self.students = behaviour.make_students(
            plan.students, self.rng, plan.mix, plan.days, plan.tuning
        )
        self.nudges_seen: list[dict[str, Any]] = []
        self._entries: dict[int, list[tuple[str, str]]] = defaultdict(list)  # week -> (sub, author)
        self._to_review: list[tuple[Student, str]] = []
        self._producer: AIOKafkaProducer | None = None
        self._nudges: AIOKafkaConsumer | None = None
        self._tz = ZoneInfo(plan.timezone)
        self._schedule = loop.schedule(plan.days, plan.lessons)
        self._questions = 0
        self._camp_id = plan.camp_id
        self._tuning = plan.tuning
        self._leaves: dict[str, tuple[int, int]] = {}

    # ---- wiring ----

    async def __aenter__(self) -> Player:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, linger_ms=5, enable_idempotence=False
        )
        self._nudges = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            await self._producer.start()
            await self._nudges.start()
            name = topics.physical(self.prefix, topics.NUDGES)
            parts = await topics.partitions_of(self.bootstrap, name)
            assigned = [TopicPartition(name, p) for p in parts or [0]]
            self._nudges.assign(assigned)
            await self._nudges.seek_to_beginning(*assigned)
        except BaseException:
            await self.__aexit__()  # a client whose start failed stays open until stopped
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        for client in (self._producer, self._nudges):
            if client is None:
                continue
            try:
                await client.stop()
            except asyncio.CancelledError:
                # aiokafka re-raises its own fetch task's cancellation from stop() when a
                # connection was cut at that moment; only a cancellation of ours propagates.
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise

    # ---- the camp ----

    async def play(self) -> None:
        plan = self.plan
        await self._send(
            topics.CAMPS,
            plan.camp_id,
            {
                "camp_id": plan.camp_id,
                "title": "模拟训练营",
                "starts_on": plan.starts_on.isoformat(),
                "days": plan.days,
                "timezone": plan.timezone,
                "lessons": plan.lessons,
                "cohort_reminder_time": plan.cohort_time,
                "assignments": self._schedule,
            },
            self._at(0, "10:00"),
        )
        for s in self.students:
            base = {"camp_id": plan.camp_id, "student_id": s.student_id}
            await self._send(
                topics.ENROLLMENTS,
                s.student_id,
                {**base, "display_name": s.name},
                self._at(0, "11:00"),
            )
            if s.reminder_time or s.opt_out:
                await self._send(
                    topics.PREFERENCES,
                    s.student_id,
                    {**base, "reminder_time": s.reminder_time, "opt_out": s.opt_out},
                    self._at(0, "12:00"),
                )
        self._leaves = behaviour.plan_leaves(self.students, plan.days, self.rng, plan.tuning)
        for day in range(1, plan.days + 1):
            await self.play_day(day)
        end = self._at(plan.days + 1, "00:00:30")
        await self._tick(end)
        await self._producer_flush()
        await waiting.weeks_settled(
            self.database_url, self.bootstrap, self.prefix, self.plan.camp_id, self.plan.days
        )
        # what the last evening's check-ins brought (a welcome back after the last reading)
        await waiting.nudges_decided(self.database_url, plan.camp_id, None, end)
        await self._read_nudges(plan.days + 1)
        self.progress.show(plan.days, "camp over")

    async def play_day(self, day: int) -> None:
        self.progress.show(day, "morning")
        await self._tick(self._at(day, "00:00:30"))
        await self._daytime(day)
        await self._caught_up()
        self.progress.show(day, "reminders")
        evening = self._at(day, "21:00:30")
        await self._tick(evening)
        await waiting.nudges_decided(self.database_url, self.plan.camp_id, day, evening)
        nudged = await self._read_nudges(day)
        await self._evening(day, nudged)
        await self._caught_up()
        self.progress.show(day, "day done")

    async def _daytime(self, day: int) -> None:
        plan, tuning, rng = self.plan, self.plan.tuning, self.rng
        camp = plan.camp_id
        for s, sub in self._to_review:  # yesterday's homework is reviewed in the morning
            score = behaviour.review_score(s, rng)
            await self._send(
                topics.REVIEWS,
                s.student_id,
                {
                    "camp_id": camp,
                    "student_id": s.student_id,
                    "submission_id": sub,
                    "reviewer_id": "teacher-1",
                    "score": score,
                    "excellent": score >= tuning.excellent_score,
                },
                self._at(day, "09:00", rng.randint(0, 3600)),
            )
        self._to_review = []
        await self._ask_for_leave(day)
        week = (day - 1) // 7 + 1
        for s in self.students:
            if rng.random() < behaviour.daytime_chance(s, day, tuning):
                await self._check_in(s, day, self._at(day, "07:00", rng.randint(0, 12 * 3600)))
            if day in s.checked_days and s.profile != "never" and rng.random() < tuning.vote:
                candidates = self._entries.get(week, [])
                for sub, _author in rng.sample(candidates, min(len(candidates), rng.randint(1, 3))):
                    await self._send(
                        topics.VOTES,
                        camp,
                        {"camp_id": camp, "voter_id": s.student_id, "submission_id": sub},
                        self._at(day, "19:00", rng.randint(0, 3000)),
                    )
            if day in s.checked_days and rng.random() < tuning.redeem:
                await self._send(
                    topics.REDEMPTIONS,
                    s.student_id,
                    {
                        "camp_id": camp,
                        "student_id": s.student_id,
                        "request_id": f"r-{s.student_id}-{day}",
                        "item_id": rng.choice(["sticker", "notebook", "course-coupon"]),
                        "cost": rng.choice([50, 100, 200]),
                    },
                    self._at(day, "19:30", rng.randint(0, 1200)),
                )

    async def _evening(self, day: int, nudged: dict[str, set[str]]) -> None:
        tuning, rng = self.plan.tuning, self.rng
        reminded = nudged["reminder"] | nudged["homework"]
        for s in self.students:
            if s.student_id in nudged["homework"]:
                for work in loop.open_work(self._schedule, day, s.handed):
                    if work.due_day == day and loop.hands_in(s, work, day, True, tuning, rng):
                        await self._hand_in(s, work, self._at(day, "21:10", rng.randint(0, 2400)))
            if day in s.checked_days:
                continue
            if s.student_id in reminded:
                s.reminded_on.add(day)
            if rng.random() < behaviour.evening_chance(s, day, s.student_id in reminded, tuning):
                await self._check_in(s, day, self._at(day, "21:05", rng.randint(0, 2400)))

    async def _check_in(self, s: Student, day: int, at: datetime) -> None:
        plan, tuning, rng = self.plan, self.plan.tuning, self.rng
        camp = plan.camp_id
        s.checked_days.add(day)
        await self._send(
            topics.CHECKINS,
            s.student_id,
            {"camp_id": camp, "student_id": s.student_id, "day": day},
            at,
        )
        if day <= plan.lessons:
            duration = 900
            ratio = rng.uniform(0.85, 1.0) if s.profile == "daily" else rng.uniform(0.5, 1.0)
            await self._send(
                topics.LESSONS,
                s.student_id,
                {
                    "camp_id": camp,
                    "student_id": s.student_id,
                    "lesson_id": f"lesson-{day}",
                    "watched_seconds": round(duration * ratio),
                    "duration_seconds": duration,
                },
                at + timedelta(minutes=20),
            )
        if rng.random() < tuning.submit:
            sub = f"w-{s.student_id}-{day}"
            entry = rng.random() < tuning.contest_entry
            await self._send(
                topics.SUBMISSIONS,
                s.student_id,
                {
                    "camp_id": camp,
                    "student_id": s.student_id,
                    "submission_id": sub,
                    "assignment_id": f"b-{day}",
                    "tier": "basic",
                    "title": f"第{day}天作业",
                    "url": f"https://camp.example/works/{sub}",
                    "contest_entry": entry,
                },
                at + timedelta(minutes=40),
            )
            self._to_review.append((s, sub))
            if entry:
                self._entries[(day - 1) // 7 + 1].append((sub, s.student_id))
            if rng.random() < tuning.share:
                await self._send(
                    topics.SHARES,
                    s.student_id,
                    {"camp_id": camp, "student_id": s.student_id, "submission_id": sub},
                    at + timedelta(minutes=45),
                )

        for work in loop.open_work(self._schedule, day, s.handed):
            if loop.hands_in(s, work, day, False, tuning, rng):
                await self._hand_in(s, work, at + timedelta(minutes=50))
        category = loop.question(rng, tuning) if s.profile != "never" else None
        if category is not None:
            await self._ask(s, category, at + timedelta(minutes=30))

    # ---- the bus and the clock ----

    def _at(self, day: int, hhmm: str, plus_s: int = 0) -> datetime:
        parts = [int(p) for p in hhmm.split(":")]
        local = datetime.combine(
            self.plan.starts_on + timedelta(days=day - 1),
            dtime(parts[0], parts[1], parts[2] if len(parts) > 2 else 0),
            self._tz,
        )
        return local + timedelta(seconds=plus_s)

    async def _send(self, topic: str, key: str, fields: dict[str, Any], at: datetime) -> None:
        assert self._producer is not None
        value = {
            "event_id": f"sim-{uuid.UUID(int=self.rng.getrandbits(128))}",
            "occurred_at": at.isoformat(),
            **fields,
        }
        raw = json.dumps(value, ensure_ascii=False).encode()
        for _ in range(2 if self.duplicate else 1):
            await self._producer.send(topics.physical(self.prefix, topic), raw, key=key.encode())
        self.sent[topic] += 1
        self.progress.events += 1

    async def _tick(self, now: datetime) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(
            topics.physical(self.prefix, topics.CLOCK),
            json.dumps({"now": now.isoformat()}).encode(),
            key=b"clock",
        )
        await self._producer.flush()

    async def _producer_flush(self) -> None:
        assert self._producer is not None
        await self._producer.flush()

    async def _caught_up(self) -> None:
        await self._producer_flush()
        await waiting.caught_up(self.database_url, self.sent)

    async def _poll(
        self, check: Callable[[asyncpg.Connection], Any], what: str, limit_s: float = 120
    ) -> None:
        await poll_database(self.database_url, check, what, limit_s)

    async def _read_nudges(self, day: int) -> dict[str, set[str]]:
        """Read the nudges published so far; returns who got a reminder and who a homework
        nudge on `day`."""
        assert self._nudges is not None
        counted: list[int] = []

        async def count(conn: asyncpg.Connection) -> bool:
            counted.append(
                await conn.fetchval(
                    "SELECT count(*) FROM nudges.nudges WHERE camp_id = $1 AND status = 'sent'",
                    self.plan.camp_id,
                )
            )
            return True

        await self._poll(count, "the count of nudges sent")
        sent = counted[-1]
        seen = {n["event_id"] for n in self.nudges_seen}
        deadline = time.monotonic() + 60
        while len(seen) < sent and time.monotonic() < deadline:
            batch = await self._nudges.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    nudge = json.loads(r.value)
                    if nudge["event_id"] not in seen:
                        seen.add(nudge["event_id"])
                        self.nudges_seen.append(nudge)
                        self._react(nudge, day)
        return {
            kind: {
                n["student_id"]
                for n in self.nudges_seen
                if n["kind"] == kind and self._day_of(n["due_at"]) == day
            }
            for kind in ("reminder", "homework")
        }

    def _react(self, nudge: dict[str, Any], day: int) -> None:
        if nudge["kind"] == "welcome_back":
            for s in self.students:
                if s.student_id == nudge["student_id"]:
                    s.stay_boost_until = day + 7

    def _day_of(self, moment: str) -> int:
        local = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(self._tz)
        return (local.date() - self.plan.starts_on).days + 1
