"""The teachers' WeCom robot: works about to wait 24 hours for their first review (and those
past it), posted to the camp's teachers' group at most once a period, within the robot's rate
limit shared with every other post (`wecom.SharedLimits`). Off unless `teachers_robot` is
enabled in the nudges file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import asyncpg

from services.nudges import loop_store, store
from services.nudges.config import NudgeBook
from services.nudges.metrics import NudgesMetrics
from services.nudges.wecom import SharedLimits, WeComSender
from shared.clock import Clock, every_pass
from shared.config import Loaded
from shared.homework import REVIEW_TOO_LONG_S, wait_seconds


@dataclass(frozen=True, slots=True)
class Waiting:
    name: str
    title: str
    waited_s: float


def digest_text(camp_title: str, works: Sequence[Waiting], total: int) -> str:
    """The post (pure): the oldest works first, each with how long it has waited."""
    lines = [f"【待点评作业】{camp_title}：{total} 份作业已等待较久，请尽快点评（24 小时内）："]
    for w in works:
        late = "，已超时" if w.waited_s > REVIEW_TOO_LONG_S else ""
        lines.append(f"- {w.name}《{w.title}》已等待 {w.waited_s / 3600:.1f} 小时{late}")
    if total > len(works):
        lines.append(f"……另有 {total - len(works)} 份，见 /camps/{{camp}}/reviews/waiting")
    return "\n".join(lines)


class TeachersRobot:
    def __init__(
        self,
        pool: asyncpg.Pool,
        clock: Clock,
        book: Callable[[], Loaded[NudgeBook]],
        metrics: NudgesMetrics,
        interval_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._book = book
        self._metrics = metrics
        self._interval = interval_s
        self._session: aiohttp.ClientSession | None = None

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            self._session = session
            await every_pass(self.tick, self._clock, self._interval, "teachers' robot")

    async def tick(self) -> int:
        """Post the digests of the period that came due; returns how many were posted."""
        book = self._book().model
        config = book.teachers_robot
        if not config.enabled or self._session is None:
            return 0
        now = self._clock.now()
        period = int(now.timestamp() // (config.every_hours * 3600))
        posted = 0
        limits = SharedLimits(self._pool, book.wecom.per_minute)
        sender = WeComSender(self._session, book.wecom, self._metrics, limits)
        for camp in (await store.load_camps(self._pool)).values():
            url = config.robots.get(camp.camp_id, config.default_robot)
            if not url:
                continue
            since = now - timedelta(hours=config.warn_after_hours)
            rows = await loop_store.works_waiting_since(self._pool, camp.camp_id, since, 10_000)
            if not rows or not await loop_store.win_digest(self._pool, camp.camp_id, period):
                continue
            works = [
                Waiting(
                    r["display_name"] or r["student_id"],
                    r["title"],
                    wait_seconds(r["occurred_at"], now),
                )
                for r in rows[: config.max_listed]
            ]
            text = digest_text(camp.title, works, len(rows)).replace("{camp}", camp.camp_id)
            posted += await sender.send(url, text)
        return posted
