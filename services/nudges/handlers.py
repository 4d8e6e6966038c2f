"""The nudges service's event step: record what happened, keep segments current, welcome back
lapsed students (with their gift), schedule praise and today's reminders. Sending happens
when nudges come due (scheduler.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.nudges import rules, segmentation, store
from services.nudges.config import NudgeBook
from services.nudges.metrics import NudgesMetrics
from shared import topics
from shared.camp_days import camp_day
from shared.clock import Clock
from shared.config import Loaded
from shared.consumer import Received
from shared.events import Camp, CheckIn, Enrollment, Gift, Preference, Review, Submission
from shared.outbox import OutMessage, derived_event_id

INPUTS = [
    topics.CAMPS,
    topics.ENROLLMENTS,
    topics.PREFERENCES,
    topics.CHECKINS,
    topics.SUBMISSIONS,
    topics.REVIEWS,
]

BookSource = Callable[[], Loaded[NudgeBook]]
StudentEvent = Enrollment | Preference | CheckIn | Review


@dataclass
class _Batch:
    camps: list[Camp] = field(default_factory=list)
    enrollments: list[Enrollment] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    checkins: list[CheckIn] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)

    @classmethod
    def of(cls, events: Sequence[Received]) -> _Batch:
        batch = cls()
        lists: dict[type, list[Any]] = {
            Camp: batch.camps,
            Enrollment: batch.enrollments,
            Preference: batch.preferences,
            CheckIn: batch.checkins,
            Submission: batch.submissions,
            Review: batch.reviews,
        }
        for item in events:
            lists[type(item.event)].append(item.event)
        return batch

    def by_camp(self) -> dict[str, list[StudentEvent]]:
        groups: dict[str, list[StudentEvent]] = defaultdict(list)
        events: list[StudentEvent] = [
            *self.enrollments,
            *self.preferences,
            *self.checkins,
            *self.reviews,
        ]
        for e in events:
            groups[e.camp_id].append(e)
        return groups


class NudgesHandler:
    def __init__(self, book: BookSource, clock: Clock, metrics: NudgesMetrics) -> None:
        self._book = book
        self._clock = clock
        self._metrics = metrics

    async def __call__(
        self, conn: asyncpg.Connection, events: Sequence[Received]
    ) -> list[OutMessage]:
        book = self._book().model
        batch = _Batch.of(events)
        await store.save_camps(conn, batch.camps)
        await store.save_enrollments(conn, batch.enrollments)
        await store.save_preferences(conn, batch.preferences)
        await store.save_works(conn, batch.submissions)
        new_days = await store.save_checkins(conn, batch.checkins)
        groups = batch.by_camp()
        camps = await store.load_camps(conn, set(groups))
        out: list[OutMessage] = []
        for camp_id, group in groups.items():
            camp = camps.get(camp_id)
            if camp is None:
                continue  # the camp's first day rollover takes these students in
            moment = max([self._clock.now(), *(e.occurred_at for e in group)])
            day = camp_day(camp.starts_on, camp.timezone, moment)
            if 1 <= day <= camp.days:
                out += await self._camp_day(conn, camp, day, moment, group, new_days, book)
        return out

    async def _camp_day(
        self,
        conn: asyncpg.Connection,
        camp: store.CampRow,
        day: int,
        moment: datetime,
        group: list[StudentEvent],
        new_days: set[tuple[str, str, int]],
        book: NudgeBook,
    ) -> list[OutMessage]:
        students = sorted({e.student_id for e in group})
        pairs = [(camp.camp_id, s) for s in students]
        days = await store.days_of(conn, pairs)
        out = await self._welcome_backs(conn, camp, day, moment, days, new_days, book)
        out += await segmentation.refresh(conn, camp, students, day, moment, self._metrics, days)
        await self._praise(conn, camp, day, moment, days, group, book)
        await self._todays_reminders(conn, camp, day, moment, group, book)
        return out

    async def _welcome_backs(
        self,
        conn: asyncpg.Connection,
        camp: store.CampRow,
        day: int,
        moment: datetime,
        days: dict[store.Pair, dict[int, int]],
        new_days: set[tuple[str, str, int]],
        book: NudgeBook,
    ) -> list[OutMessage]:
        """A lapsed student who checks in again: a welcome-back and a gift, once per lapse."""
        fresh: dict[store.Pair, set[int]] = defaultdict(set)
        for c, s, d in new_days:
            if c == camp.camp_id:
                fresh[(c, s)].add(d)
        lapses: dict[store.Pair, tuple[str, int]] = {}
        for pair in sorted(fresh):
            reported = [us for d, us in days.get(pair, {}).items() if d not in fresh[pair]]
            returning = rules.returning_from_lapse(reported, day, camp.starts_on, camp.timezone)
            if returning is not None:
                lapses[pair] = returning
        won = await store.welcome_lapses(
            conn, [(c, s, lapse) for (c, s), (lapse, _) in lapses.items()]
        )
        due = rules.after_quiet_hours(moment, camp.timezone, book.quiet_hours)
        out: list[OutMessage] = []
        nudges: list[store.NewNudge] = []
        for pair, (lapse, missed) in lapses.items():
            if (pair[0], pair[1], lapse) not in won:
                continue
            gift = Gift(
                event_id=derived_event_id("gift", pair[0], pair[1], lapse),
                occurred_at=moment,
                camp_id=pair[0],
                student_id=pair[1],
                gift_id=book.welcome_back_gift,
                reason=f"welcome back after {missed} days away",
            )
            out.append(OutMessage(topics.GIFTS, pair[1], gift))
            nudges.append(
                store.NewNudge(
                    "welcome_back", pair[0], pair[1], day, lapse, due, {"days_missed": missed}
                )
            )
        self._metrics.gifts.labels(book.welcome_back_gift).inc(len(out))
        await store.schedule(conn, nudges)
        return out

    async def _praise(
        self,
        conn: asyncpg.Connection,
        camp: store.CampRow,
        day: int,
        moment: datetime,
        days: dict[store.Pair, dict[int, int]],
        group: list[StudentEvent],
        book: NudgeBook,
    ) -> None:
        """Excellent work by an active student is praised (publicly, out of quiet hours)."""
        due = rules.after_quiet_hours(moment, camp.timezone, book.quiet_hours)
        praise = [
            store.NewNudge(
                "praise",
                r.camp_id,
                r.student_id,
                day,
                f"submission:{r.submission_id}",
                due,
                {"submission_id": r.submission_id, "score": r.score},
            )
            for r in group
            if isinstance(r, Review)
            and r.excellent
            and rules.segment_on(days.get((r.camp_id, r.student_id), {}).keys(), day) == "active"
        ]
        await store.schedule(conn, praise)

    async def _todays_reminders(
        self,
        conn: asyncpg.Connection,
        camp: store.CampRow,
        day: int,
        moment: datetime,
        group: list[StudentEvent],
        book: NudgeBook,
    ) -> None:
        """Enrolled today: remind today if the time has not passed. New personal time: move
        today's pending reminder (a time already passed makes it due at once)."""
        changed = sorted(
            {(e.camp_id, e.student_id) for e in group if isinstance(e, Enrollment | Preference)}
        )
        if not changed:
            return
        info = await store.students(conn, changed)
        new: list[store.NewNudge] = []
        moves: list[tuple[str, str, int, datetime]] = []
        for pair in changed:
            row = info[pair]
            due = rules.reminder_due(
                camp.starts_on,
                camp.timezone,
                day,
                row.reminder_time or camp.cohort_time,
                book.quiet_hours,
            )
            moves.append((pair[0], pair[1], day, due))
            if row.display_name is not None and due > moment:
                new.append(store.NewNudge("reminder", pair[0], pair[1], day, f"day:{day}", due, {}))
        await store.reschedule_reminders(conn, moves)
        await store.schedule(conn, new)
