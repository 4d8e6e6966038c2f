"""Closing contest weeks: when a week's last day has ended by the clock, rank it and publish
`gamify.contests` (and the prize gifts) exactly once. The week's row in `weeks`, the votes'
outcomes and the outbox rows are written in one transaction under the week's advisory lock:
a second replica waits and then finds the week settled; a crash before the commit settles
nothing and the next pass (here or elsewhere) does it all again."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.contests import rules, store
from services.contests.config import ContestBook
from services.contests.metrics import ContestsMetrics
from shared import topics
from shared.clock import Clock, every_pass
from shared.config import Loaded
from shared.events import ContestResult, Gift
from shared.outbox import OutMessage, derived_event_id, enqueue

log = logging.getLogger(__name__)

WAITING_EVERY_S = 10.0


class Closer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        book: Callable[[], Loaded[ContestBook]],
        metrics: ContestsMetrics,
        wake_relay: Callable[[], None],
        interval_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._book = book
        self._metrics = metrics
        self._wake_relay = wake_relay
        self._interval = interval_s
        self._waiting_checked = -WAITING_EVERY_S

    async def run(self) -> None:
        await every_pass(self.tick, self._clock, self._interval, "contest closer pass")

    async def tick(self) -> int:
        """Settle every week that has ended by the clock's now; returns how many."""
        now = self._clock.now()
        loaded = self._book()
        book = loaded.model
        camps = await store.load_camps(self._pool)
        done = await store.settled(self._pool)
        settled = 0
        for camp_id in sorted(camps):
            for week in camps[camp_id].closed_weeks(now):
                if (camp_id, week) not in done:
                    settled += await self.close(
                        camp_id, week, camps[camp_id], now, book, loaded.version
                    )
        if time.monotonic() - self._waiting_checked >= WAITING_EVERY_S:
            # A scan of every unsettled vote: a gauge for dashboards, not worth each pass.
            self._waiting_checked = time.monotonic()
            self._metrics.waiting.set(await store.waiting_votes(self._pool))
        self._metrics.closer_clock.set(now.timestamp())
        return settled

    async def close(
        self,
        camp_id: str,
        week: int,
        weeks: rules.CampWeeks,
        now: datetime,
        book: ContestBook,
        version: str,
    ) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await store.lock_week(conn, camp_id, week):
                return 0
            facts = await store.camp_facts(conn, camp_id, weeks)
            result = facts.settle(week, weeks, book.cap(camp_id), book.min_votes(camp_id))
            closed_at = weeks.closes_at(week)
            await store.settle_week(
                conn, camp_id, week, closed_at, result.ranking, result.outcomes, version
            )
            contest = ContestResult(
                event_id=derived_event_id("contest", camp_id, week),
                occurred_at=max(now, closed_at),
                camp_id=camp_id,
                week=week,
                closed_at=closed_at,
                ranking=result.ranking,
            )
            out = [OutMessage(topics.CONTESTS, camp_id, contest)]
            prize_gifts = book.gifts(camp_id)
            for entry in result.ranking:
                gift_id = prize_gifts.get(entry.rank)
                if gift_id and entry.earns_prize:
                    gift = Gift(
                        event_id=derived_event_id("contest-gift", camp_id, week, entry.rank),
                        occurred_at=contest.occurred_at,
                        camp_id=camp_id,
                        student_id=entry.student_id,
                        gift_id=gift_id,
                        reason=f"contest week {week}: rank {entry.rank}",
                    )
                    out.append(OutMessage(topics.GIFTS, entry.student_id, gift))
            await enqueue(conn, out)
        outcomes = Counter(result.outcomes.values())
        for outcome, n in outcomes.items():
            self._metrics.votes.labels(outcome).inc(n)
        for gift_message in out[1:]:
            assert isinstance(gift_message.event, Gift)
            self._metrics.prizes.labels(gift_message.event.gift_id).inc()
        self._metrics.weeks.inc()
        self._wake_relay()
        log.info(
            "camp %s week %d settled: %d ranked, %d votes counted",
            camp_id,
            week,
            len(result.ranking),
            outcomes.get(rules.COUNTED, 0),
        )
        return 1
