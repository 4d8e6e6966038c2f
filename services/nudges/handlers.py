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

from services.nudges import loop, queue, rules, segmentation, store, streaks
from services.nudges.config import NudgeBook
from services.nudges.metrics import NudgesMetrics
from shared import leave_store, topics
from shared.camp_days import camp_day, instant
from shared.clock import Clock
from shared.config import Loaded
from shared.db import lock_keys
from shared.events import (
    Answer,
    Camp,
    CheckIn,
    Enrollment,
    Leave,
    Preference,
    Question,
    RedemptionResult,
    Review,
    Submission,
)
from shared.outbox import OutMessage
from shared.processor import Received

INPUTS = [
    topics.CAMPS,
    topics.ENROLLMENTS,
    topics.PREFERENCES,
    topics.CHECKINS,
    topics.SUBMISSIONS,
    topics.REVIEWS,
    topics.QUESTIONS,
    topics.ANSWERS,
    topics.LEAVES,
    topics.REDEMPTION_RESULTS,  # streak freezes bought (points' decisions)
]

BookSource = Callable[[], Loaded[NudgeBook]]
StudentEvent = Enrollment | Preference | CheckIn | Review | Leave


@dataclass
class _Batch:
    camps: list[Camp] = field(default_factory=list)
    enrollments: list[Enrollment] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    checkins: list[CheckIn] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    leaves: list[Leave] = field(default_factory=list)
    redemptions: list[RedemptionResult] = field(default_factory=list)

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
            Question: batch.questions,
            Answer: batch.answers,
            Leave: batch.leaves,
            RedemptionResult: batch.redemptions,
        }
        for item in events:
            lists[type(item.event)].append(item.event)
        return batch

    def questions_and_answers(self) -> list[Question | Answer]:
        return [*self.questions, *self.answers]

    def by_camp(self) -> dict[str, list[StudentEvent]]:
        groups: dict[str, list[StudentEvent]] = defaultdict(list)
        events: list[StudentEvent] = [
            *self.enrollments,
            *self.preferences,
            *self.checkins,
            *self.reviews,
            *self.leaves,
        ]
        for e in events:
            groups[e.camp_id].append(e)
        return groups


class NudgesHandler:
    def __init__(
        self, book: BookSource, clock: Clock, metrics: NudgesMetrics, leave_cap: int | None
    ) -> None:
        self._book = book
        self._clock = clock
        self._metrics = metrics
        self._leave_cap = leave_cap

    async def __call__(
        self, conn: asyncpg.Connection, events: Sequence[Received]
    ) -> list[OutMessage]:
        book = self._book().model
        batch = _Batch.of(events)
        groups = batch.by_camp()
        arrived = {c.camp_id for c in batch.camps}
        # A camp and what arrived before it: a lane taking in the camp and another taking in
        # a check-in or review of it would each miss the other's rows (READ COMMITTED), and
        # nothing would be proposed. The later one waits and sees the earlier one's.
        await lock_keys(
            conn,
            # a question and its answer taken in by two replicas at once (a rebalance) would
            # each miss the other's row: the later one waits and merges
            exclusive=[f"nudges/camp/{c}" for c in arrived]
            + [
                f"nudges/question/{e.camp_id}/{e.question_id}"
                for e in batch.questions_and_answers()
            ],
            shared=[f"nudges/camp/{c}" for c in groups],
        )
        await store.save_camps(conn, batch.camps)
        for c in batch.camps:
            self._metrics.loop.camp_seen(c.camp_id)
        await store.save_enrollments(conn, batch.enrollments)
        await store.save_preferences(conn, batch.preferences)
        await store.save_works(conn, batch.submissions)
        await store.save_reviews(conn, batch.reviews)
        await loop.take_in(conn, batch.reviews, batch.questions, batch.answers, self._metrics.loop)
        new_days = await store.save_checkins(conn, batch.checkins)
        await leave_store.save_leaves(conn, batch.leaves)
        await streaks.save_accepted(conn, batch.redemptions)
        handed_in = {x.camp_id for x in batch.submissions}
        camps = await store.load_camps(conn, set(groups) | arrived | handed_in)
        if book.praise.first_after_lapse:
            for camp_id in sorted(handed_in & set(camps)):
                subs = [x for x in batch.submissions if x.camp_id == camp_id]
                await self._praise_returns(conn, camps[camp_id], subs, book)
        for camp_id in sorted(arrived):
            await self._camp_arrived(conn, camps[camp_id], book)
        out: list[OutMessage] = []
        for camp_id, group in groups.items():
            camp = camps.get(camp_id)
            if camp is None:
                continue  # proposed when the camp arrives; its rollovers take the students in
            students = sorted({e.student_id for e in group})
            pairs = [(camp_id, s) for s in students]
            known = await store.calendars(conn, pairs, self._leave_cap, with_segments=True)
            days, leaves = known.days, known.leaves
            touched = sorted({(c, s) for c, s, _ in new_days if c == camp_id})
            await self._welcome_backs(conn, camp, touched, days, book)
            on_leave = {(e.camp_id, e.student_id) for e in group if isinstance(e, Leave)}
            await self._backs_from_leave(
                conn, camp, sorted(set(touched) | on_leave), days, leaves, book
            )
            await self._praise(
                conn,
                camp,
                [store.ExcellentWork.of(r) for r in group if isinstance(r, Review)],
                book,
            )
            moment = max([self._clock.now(), *(e.occurred_at for e in group)])
            day = camp_day(camp.starts_on, camp.timezone, moment)
            if 1 <= day <= camp.days:
                out += await self._camp_day(conn, camp, day, moment, group, known, book)
        return out

    async def _camp_arrived(
        self, conn: asyncpg.Connection, camp: store.CampRow, book: NudgeBook
    ) -> None:
        """Propose what waited for the camp's definition (a camp may come after its events)."""
        students, works = await store.waiting_for_camp(conn, camp.camp_id)
        pairs = [(camp.camp_id, s) for s in students]
        if pairs:
            await self._welcome_backs(conn, camp, pairs, await store.days_of(conn, pairs), book)
        await self._praise(conn, camp, works, book)

    async def _camp_day(
        self,
        conn: asyncpg.Connection,
        camp: store.CampRow,
        day: int,
        moment: datetime,
        group: list[StudentEvent],
        known: store.Calendars,
        book: NudgeBook,
    ) -> list[OutMessage]:
        """Today's part: segments kept current, reminders of students enrolled today."""
        students = sorted({e.student_id for e in group})
        out = await segmentation.refresh(conn, camp, students, day, moment, self._metrics, known)
        await self._todays_reminders(conn, camp, day, moment, group, book)
        return out

    async def _welcome_backs(
        self,
        conn: asyncpg.Connection,
        camp: store.CampRow,
        touched: list[store.Pair],
        days: dict[store.Pair, dict[int, int]],
        book: NudgeBook,
    ) -> None:
        """Every return from a lapse in the history of a student with new check-ins is a
        candidate welcome-back, judged again when it comes due (scheduler.py) on everything
        known by then: a check-in that arrives late, in another batch or out of order,
        changes neither whether nor when a student is welcomed back."""
        nudges = [
            store.NewNudge(
                "welcome_back",
                pair[0],
                pair[1],
                back.day,
                f"return:{back.day}",
                rules.after_quiet_hours(instant(back.at_us), camp.timezone, book.quiet_hours),
                {"days_missed": back.missed},
            )
            for pair in touched
            for back in rules.returns(days.get(pair, {}).values(), camp.starts_on, camp.timezone)
            if 1 <= back.day <= camp.days
        ]
        await queue.schedule(conn, nudges)

    async def _backs_from_leave(
        self,
        conn: asyncpg.Connection,
        camp: store.CampRow,
        touched: list[store.Pair],
        days: dict[store.Pair, dict[int, int]],
        leaves: dict[store.Pair, frozenset[int]],
        book: NudgeBook,
    ) -> None:
        """The first check-in after each leave is a candidate "welcome back from your break",
        judged when it comes due (not for a student coming back from a lapse: they are
        welcomed back with the gift instead)."""
        if "back_from_leave" not in book.templates:
            return
        nudges = [
            store.NewNudge(
                "back_from_leave",
                pair[0],
                pair[1],
                back.day,
                f"leave:{back.leave_from}-{back.leave_to}",
                rules.after_quiet_hours(instant(back.at_us), camp.timezone, book.quiet_hours),
                {},
            )
            for pair in touched
            if pair in leaves
            for back in rules.backs_from_leave(days.get(pair, {}), leaves[pair])
            if 1 <= back.day <= camp.days
        ]
        await queue.schedule(conn, nudges)

    async def _praise(
        self,
        conn: asyncpg.Connection,
        camp: store.CampRow,
        works: list[store.ExcellentWork],
        book: NudgeBook,
    ) -> None:
        """Excellent work (or every reviewed work, praise.works) is praised (publicly, out of
        quiet hours) if its author was active on the review's day: judged when the praise comes
        due, on every check-in known by then."""
        mode = book.praise.works
        praise = []
        for w in works:
            if mode == "off" or (mode == "excellent" and not w.excellent):
                continue
            day = camp_day(camp.starts_on, camp.timezone, w.reviewed_at)
            if 1 <= day <= camp.days:
                praise.append(
                    store.NewNudge(
                        "praise",
                        w.camp_id,
                        w.student_id,
                        day,
                        f"submission:{w.submission_id}",
                        rules.after_quiet_hours(w.reviewed_at, camp.timezone, book.quiet_hours),
                        {
                            "submission_id": w.submission_id,
                            "score": w.score,
                            "excellent": w.excellent,
                        },
                    )
                )
        await queue.schedule(conn, praise)

    async def _praise_returns(
        self,
        conn: asyncpg.Connection,
        camp: store.CampRow,
        submissions: list[Submission],
        book: NudgeBook,
    ) -> None:
        """A student back from a lapse is praised for the first work after it (judged again
        when it comes due, on every check-in and work known by then)."""
        pairs = sorted({(x.camp_id, x.student_id) for x in submissions})
        if not pairs:
            return
        known = await store.calendars(conn, pairs, self._leave_cap)
        days, leaves = known.days, known.leaves
        handed = await store.work_times(conn, pairs)
        nudges = []
        for x in submissions:
            pair = (x.camp_id, x.student_id)
            if rules.first_work_after_return(
                days.get(pair, {}),
                leaves.get(pair, frozenset()),
                handed.get(pair, []),
                x.occurred_at,
                camp.starts_on,
                camp.timezone,
            ):
                day = camp_day(camp.starts_on, camp.timezone, x.occurred_at)
                nudges.append(
                    store.NewNudge(
                        "praise",
                        x.camp_id,
                        x.student_id,
                        day,
                        f"return:{x.submission_id}",
                        rules.after_quiet_hours(x.occurred_at, camp.timezone, book.quiet_hours),
                        {"submission_id": x.submission_id, "return": True},
                    )
                )
        await queue.schedule(conn, [n for n in nudges if 1 <= n.day <= camp.days])

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
        await queue.reschedule_reminders(conn, moves)
        await queue.schedule(conn, new)
