"""Time-driven work: the start of each camp day (segments recomputed, reminders scheduled) and
nudges coming due. Safe with any number of replicas: a camp day is started by the replica that
inserts its rollover row, and each due nudge is claimed with FOR UPDATE SKIP LOCKED and marked
sent or skipped in the same transaction as its outbox row, so it leaves exactly once, across
crashes and restarts."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from services.nudges import loop_store, queue, rules, segmentation, store, streaks
from services.nudges.config import ALL_SEGMENTS, Facts, NudgeBook
from services.nudges.loop import LoopGauges
from services.nudges.metrics import NudgesMetrics
from shared import topics
from shared.camp_days import camp_day, instant
from shared.clock import Clock, every_pass
from shared.config import Loaded
from shared.events import Gift, Nudge
from shared.homework import due_for_reminder
from shared.leave import NO_LEAVE
from shared.outbox import OutMessage, derived_event_id, enqueue

log = logging.getLogger(__name__)

CLAIM_BATCH = 200
SIZES_EVERY_S = 5.0  # segment sizes are re-read this often, and after each camp day starts


class Scheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        book: Callable[[], Loaded[NudgeBook]],
        metrics: NudgesMetrics,
        wake_relay: Callable[[], None],
        interval_s: float = 1.0,
        leave_cap: int | None = None,
        points_rules: streaks.PointsRulesSource | None = None,
    ) -> None:
        self._pool = pool
        self._leave_cap = leave_cap
        self._points_rules = points_rules
        self._clock = clock
        self._book = book
        self._metrics = metrics
        self._wake_relay = wake_relay
        self._interval = interval_s
        self._last_sizes = 0.0
        self._loop = LoopGauges(pool, metrics.loop)

    async def run(self) -> None:
        await every_pass(self.tick, self._clock, self._interval, "scheduler tick")

    async def tick(self) -> None:
        """Start the camp days that began, then send what came due, as of the clock's now."""
        now = self._clock.now()
        loaded = self._book()
        book = loaded.model
        started = await self.start_days(now, book)
        while await self.send_due(now, book, loaded.version) == CLAIM_BATCH:
            pass
        if started or time.monotonic() - self._last_sizes > SIZES_EVERY_S:
            await self.refresh_sizes()
        await self._loop.refresh(now, force=bool(started))
        await self.measure(now)
        self._metrics.scheduler_clock.set(now.timestamp())

    async def start_days(self, now: datetime, book: NudgeBook) -> int:
        camps = await store.load_camps(self._pool)
        done = await queue.last_rollovers(self._pool)
        started = 0
        for camp in camps.values():
            day = camp_day(camp.starts_on, camp.timezone, now)
            if 1 <= day <= camp.days and done.get(camp.camp_id, 0) < day:
                started += await self._start_day(camp, day, book)
        return started

    async def _start_day(self, camp: store.CampRow, day: int, book: NudgeBook) -> int:
        midnight = rules.at_local(camp.starts_on, camp.timezone, day, "00:00")
        async with self._pool.acquire() as conn, conn.transaction():
            if not await queue.win_rollover(conn, camp.camp_id, day):
                return 0
            students = await store.enrolled(conn, camp.camp_id)
            pairs = [(camp.camp_id, s) for s in students]
            known = await store.calendars(conn, pairs, self._leave_cap, with_segments=True)
            moves = await segmentation.refresh(
                conn, camp, students, day, midnight, self._metrics, known
            )
            info = await store.students(conn, [(camp.camp_id, s) for s in students])
            await queue.schedule(
                conn,
                [
                    store.NewNudge(
                        "reminder",
                        camp.camp_id,
                        s,
                        day,
                        f"day:{day}",
                        rules.reminder_due(
                            camp.starts_on,
                            camp.timezone,
                            day,
                            info[(camp.camp_id, s)].reminder_time or camp.cohort_time,
                            book.quiet_hours,
                        ),
                        {},
                    )
                    for s in students
                ],
            )
            await enqueue(conn, moves)
        self._metrics.rollovers.inc()
        self._wake_relay()
        log.info(
            "camp %s day %d started: %d students, %d segment moves",
            camp.camp_id,
            day,
            len(students),
            len(moves),
        )
        return 1

    async def send_due(self, now: datetime, book: NudgeBook, version: str) -> int:
        """Decide one batch of due nudges; returns how many were claimed."""
        async with self._pool.acquire() as conn, conn.transaction():
            due = await queue.claim_due(conn, now, CLAIM_BATCH)
            if not due:
                return 0
            pairs = sorted({(r["camp_id"], r["student_id"]) for r in due})
            camps = await store.load_camps(conn, {p[0] for p in pairs})
            known = await store.calendars(conn, pairs, self._leave_cap)
            days, leaves = known.days, known.leaves
            info = await store.students(conn, pairs)
            history = await queue.histories(conn, pairs)
            works = await store.last_works(conn, pairs)
            handed = await loop_store.handed_in(conn, [p for p in pairs if camps[p[0]].assignments])
            saved: set[tuple[store.Pair, int]] = set()
            if self._points_rules is not None:
                points_rules = self._points_rules().model
                saved = await streaks.saved_yesterday(conn, due, camps, days, leaves, points_rules)
            outcomes: list[queue.Outcome] = []
            messages: list[OutMessage] = []
            for row in due:
                pair = (row["camp_id"], row["student_id"])
                decision = await self._decide(
                    conn,
                    row,
                    camps[pair[0]],
                    days.get(pair, {}),
                    leaves.get(pair, NO_LEAVE),
                    info[pair],
                    history[pair],
                    works.get(pair),
                    [a for a, _ in handed.get(pair, [])],
                    (pair, row["day"]) in saved,
                    now,
                    book,
                )
                outcomes.append(decision[0])
                messages += decision[1]
            await queue.finish(conn, outcomes, now, version)
            await enqueue(conn, messages)
        if messages:
            self._wake_relay()
        return len(due)

    async def _decide(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        camp: store.CampRow,
        days: dict[int, int],
        leave: frozenset[int],
        student: store.StudentRow,
        history: queue.History,
        last_work: str | None,
        handed_in: list[str],
        streak_saved: bool,
        now: datetime,
        book: NudgeBook,
    ) -> tuple[queue.Outcome, list[OutMessage]]:
        kind, day = row["kind"], row["day"]
        context = json.loads(row["context"]) if isinstance(row["context"], str) else row["context"]
        segment = rules.segment_on(days.keys(), day, leave)
        gifts: list[OutMessage] = []
        # Praise and welcome-backs were proposed when their event arrived; they are judged
        # here, on every check-in known by now, so arrival order and batching change nothing.
        group = ""  # the templates to choose from, when not the kind's own (praise)
        if kind == "praise":
            group, skip = await self._judge_praise(conn, row, context, days, leave, camp, book)
            if skip is None and segment != "active" and not context.get("return"):
                skip = rules.Skip("not_active")  # a returner is praised while still lapsed
            if skip is None and day in history.praise_days:
                skip = rules.Skip("capped")  # one praise a day
            if skip is not None:
                self._metrics.skipped.labels(kind, skip.reason).inc()
                return (row["id"], "skipped", skip.reason, segment, None), []
        if kind == "welcome_back":
            back = next(
                (
                    r
                    for r in rules.returns(days.values(), camp.starts_on, camp.timezone, leave)
                    if r.day == day
                ),
                None,
            )
            if back is None:
                self._metrics.skipped.labels(kind, "not_lapsed").inc()
                return (row["id"], "skipped", "not_lapsed", segment, None), []
            if not await queue.welcome_lapses(
                conn, [(camp.camp_id, row["student_id"], back.lapse)]
            ):
                self._metrics.skipped.labels(kind, "welcomed").inc()
                return (row["id"], "skipped", "welcomed", segment, None), []
            context = {**context, "days_missed": back.missed}
            gifts.append(self._gift(camp, row["student_id"], back, now, book))
        if kind == "back_from_leave":
            skip = rules.judge_back_from_leave(days, leave, day, camp.starts_on, camp.timezone)
            if skip is not None:
                self._metrics.skipped.labels(kind, skip.reason).inc()
                return (row["id"], "skipped", skip.reason, segment, None), []
        if kind == "reminder":
            facts = rules.ReminderFacts(
                segment=segment,
                checked_in_today=day in days,
                opted_out=student.opt_out,
                enrolled=student.display_name is not None,
                last_reminder_day=history.last_reminder_day,
                ignored_in_row=rules.ignored_in_row(
                    history.reminders_sent_at, [instant(us) for us in days.values()]
                ),
            )
            missing = due_for_reminder(camp.assignments, day, handed_in)
            if missing and not rules.decide_instead(
                "homework", facts, day, row["due_at"], now, camp.timezone, book
            ):
                kind = "homework"  # instead of the reminder: one of them a day at most
                context = {**context, "homework": rules.homework_words(a.tier for a in missing)}
            elif streak_saved and not rules.decide_instead(
                "streak_saved", facts, day, row["due_at"], now, camp.timezone, book
            ):
                kind = "streak_saved"  # yesterday's missed day was held by a freeze
            else:
                skip = rules.decide_reminder(facts, day, row["due_at"], now, camp.timezone, book)
                if skip is not None:
                    self._metrics.skipped.labels(kind, skip.reason).inc()
                    return (row["id"], "skipped", skip.reason, segment, None), []
        else:
            returning = kind == "welcome_back" or bool(context.get("return"))
            segment = "lapsed" if returning else "active"
        if kind == "praise" and context.get("submission_id"):
            last_work = (
                await store.work_title(conn, camp.camp_id, context["submission_id"]) or last_work
            )
        known = Facts(
            run_before_gap=rules.run_before_gap(days.keys(), day, leave),
            days_missed=context.get("days_missed", rules.days_missed(days.keys(), day, leave)),
            streak=rules.current_streak(days.keys(), day, leave),
            has_last_work=last_work is not None,
        )
        variants = [v for v in book.variants(group or kind, segment) if v.applies(known)]
        if not variants:
            self._metrics.skipped.labels(kind, "no_template").inc()
            return (row["id"], "skipped", "no_template", segment, None), gifts
        template = rules.pick_variant(
            variants,
            f"{row['camp_id']}/{row['student_id']}/{kind}/{day}",
            history.last_template.get(kind),
        )
        if kind in queue.DAILY_KINDS and rules.held_out(
            row["camp_id"], row["student_id"], book.holdout
        ):
            # what would have been sent, kept to compare with those who got it (measure())
            self._metrics.skipped.labels(kind, "holdout").inc()
            return (row["id"], "skipped", "holdout", segment, template.id, kind), gifts
        message = rules.render(
            template,
            name=student.display_name or "同学",
            streak=known.streak,
            days_missed=known.days_missed,
            last_work=last_work or "你的作业",
            camp=camp.title,
            day=day,
            score=context.get("score", ""),
            homework=context.get("homework", ""),
        )
        history.last_template[kind] = template.id
        if kind == "praise":
            history.praise_days.add(day)
        if kind in queue.DAILY_KINDS:
            history.reminders_sent_at.append(now)
            history.last_reminder_day = day
        self._metrics.sent.labels(kind, segment).inc()
        nudge = Nudge(
            event_id=derived_event_id(
                "nudge", kind, row["camp_id"], row["student_id"], row["cause"]
            ),
            occurred_at=now,
            camp_id=row["camp_id"],
            student_id=row["student_id"],
            kind=kind,
            segment=segment,
            template_id=template.id,
            message=message,
            due_at=row["due_at"],
        )
        return (row["id"], "sent", None, segment, template.id, kind), [
            *gifts,
            OutMessage(topics.NUDGES, row["student_id"], nudge),
        ]

    async def _judge_praise(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        context: dict[str, Any],
        days: dict[int, int],
        leave: frozenset[int],
        camp: store.CampRow,
        book: NudgeBook,
    ) -> tuple[str, rules.Skip | None]:
        """(the praise's templates, why it is not sent) under the praise settings in force."""
        if context.get("return"):
            pair = (row["camp_id"], row["student_id"])
            works = (await store.work_times(conn, [pair])).get(pair, [])
            handed = await store.work_time(conn, row["camp_id"], context["submission_id"])
            first = handed is not None and rules.first_work_after_return(
                days, leave, works, handed, camp.starts_on, camp.timezone
            )
            if not book.praise.first_after_lapse or not first:
                return "praise_return", rules.Skip("praise_off" if first else "not_first")
            return "praise_return", None
        excellent = context.get("excellent", True)
        mode = book.praise.works
        if mode == "off" or (mode == "excellent" and not excellent):
            return "praise", rules.Skip("praise_off")
        return ("praise" if excellent else "praise_reviewed"), None

    def _gift(
        self,
        camp: store.CampRow,
        student_id: str,
        back: rules.Return,
        now: datetime,
        book: NudgeBook,
    ) -> OutMessage:
        """The welcome-back gift: its id names the lapse, so it is given once per lapse."""
        self._metrics.gifts.labels(book.welcome_back_gift).inc()
        gift = Gift(
            event_id=derived_event_id("gift", camp.camp_id, student_id, back.lapse),
            occurred_at=now,
            camp_id=camp.camp_id,
            student_id=student_id,
            gift_id=book.welcome_back_gift,
            reason=f"welcome back after {back.missed} days away",
        )
        return OutMessage(topics.GIFTS, student_id, gift)

    async def measure(self, now: datetime) -> None:
        """Whether each reminder or homework nudge sent, and each one held out, was followed
        by a check-in within 24 hours: counted once, 24 hours after its decision."""
        for r in await queue.measure(self._pool, now):
            group = "holdout" if r["status"] == "skipped" else "reminded"
            outcome = "checked_in" if r["followed"] else "not_checked_in"
            self._metrics.outcomes.labels(
                group, r["kind"], r["segment"], r["template_id"], outcome
            ).inc()

    async def refresh_sizes(self) -> None:
        self._last_sizes = time.monotonic()
        sizes = await store.segment_sizes(self._pool)
        self._metrics.sizes.clear()
        for camp_id in {c for c, _, _ in sizes}:  # every segment of a camp, 0 when empty
            for segment in ALL_SEGMENTS:
                self._metrics.sizes.labels(camp_id, segment).set(0)
        for camp_id, segment, count in sizes:
            self._metrics.sizes.labels(camp_id, segment).set(count)
