"""Delivery to WeCom (企业微信) group robots: praise and welcome-backs posted in the camp's
group, within the robot's rate limit (20 messages a minute, counted in PostgreSQL so that it
holds across replicas), retried with back-off.

The forwarder reads `gamify.nudges` in a consumer group of its own and commits after each
batch is delivered. A nudge posted once is noted and never posted again (a republished nudge
carries the same event_id); only a crash between the post and that note can post it twice.
The forwarder is supervised: a failure is logged, counted and the forwarder started again."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from services.nudges.config import NudgeBook, WeCom
from services.nudges.metrics import NudgesMetrics
from shared import topics
from shared.config import Loaded
from shared.events import Nudge
from shared.kafka_clients import running

log = logging.getLogger(__name__)

RATE_LIMITED = 45009  # WeCom's errcode for "api freq out of limit"


class SlidingWindow:
    """At most `limit` acquisitions in any `window` seconds."""

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._limit = limit
        self._window = window
        self._now = now
        self._sleep = sleep
        self._times: collections.deque[float] = collections.deque()

    async def acquire(self) -> None:
        while True:
            now = self._now()
            while self._times and now - self._times[0] >= self._window:
                self._times.popleft()
            if len(self._times) < self._limit:
                self._times.append(now)
                return
            await self._sleep(self._window - (now - self._times[0]))


class Limits(Protocol):
    """A rate limit per robot: `acquire(url)` returns once a post to it may go."""

    async def acquire(self, url: str) -> None: ...


class LocalLimits:
    """Per-robot sliding windows in this process (for tests with a fake clock)."""

    def __init__(
        self,
        per_window: int,
        window: float = 60.0,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._args = (per_window, window, now, sleep)
        self._windows: dict[str, SlidingWindow] = {}

    async def acquire(self, url: str) -> None:
        if url not in self._windows:
            self._windows[url] = SlidingWindow(*self._args)
        await self._windows[url].acquire()


class SharedLimits:
    """Per-robot sliding windows kept in PostgreSQL: every replica counts the same posts, so
    the robot's limit holds however many run. The database's clock decides."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        per_window: int,
        window: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self._limit = per_window
        self._window = window
        self._sleep = sleep

    async def acquire(self, url: str) -> None:
        robot = hashlib.sha256(url.encode()).hexdigest()[:24]
        while True:
            wait = await self._try(robot)
            if wait <= 0:
                return
            await self._sleep(wait)

    async def _try(self, robot: str) -> float:
        """0 when a post was taken in the window; else the seconds until one may be."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('wecom/' || $1))", robot)
            window = self._window
            await conn.execute(
                "DELETE FROM wecom_posts WHERE robot = $1"
                " AND posted_at <= clock_timestamp() - make_interval(secs => $2::float8)",
                robot,
                window,
            )
            row = await conn.fetchrow(
                "SELECT count(*) AS n, extract(epoch FROM min(posted_at)"
                " + make_interval(secs => $2::float8)"
                " - clock_timestamp()) AS wait FROM wecom_posts WHERE robot = $1",
                robot,
                window,
            )
            if row["n"] < self._limit:
                await conn.execute("INSERT INTO wecom_posts VALUES ($1, clock_timestamp())", robot)
                return 0.0
            return max(float(row["wait"]), 0.01)


class WeComSender:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: WeCom,
        metrics: NudgesMetrics,
        limits: Limits,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        base_delay: float = 1.0,
    ) -> None:
        self._session = session
        self.config = config
        self._metrics = metrics
        self._limits = limits
        self._sleep = sleep
        self._base_delay = base_delay

    async def send(self, url: str, text: str) -> bool:
        """Post one text message; True once WeCom accepted it."""
        body = {"msgtype": "text", "text": {"content": text}}
        for attempt in range(self.config.retries + 1):
            await self._limits.acquire(url)
            try:
                async with self._session.post(
                    url, json=body, timeout=aiohttp.ClientTimeout(10)
                ) as r:
                    answer = await r.json(content_type=None) if r.status == 200 else None
                    status = r.status
            except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
                log.warning("WeCom post failed (%r), attempt %d", exc, attempt + 1)
                outcome = "network_error"
            else:
                errcode = answer.get("errcode") if isinstance(answer, dict) else None
                if errcode == 0:
                    self._metrics.channel.labels("wecom", "sent").inc()
                    return True
                if status == 200 and errcode not in (RATE_LIMITED, None):
                    log.error("WeCom refused the message: %s", answer)
                    self._metrics.channel.labels("wecom", "refused").inc()
                    return False
                outcome = "rate_limited" if errcode == RATE_LIMITED else f"http_{status}"
            self._metrics.channel.labels("wecom", f"retry_{outcome}").inc()
            if attempt < self.config.retries:
                await self._sleep(self._base_delay * 2**attempt)
        self._metrics.channel.labels("wecom", "failed").inc()
        return False


class WeComForwarder:
    """Forwards the nudges the configuration names to the camp's group robot."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        pool: asyncpg.Pool,
        book: Callable[[], Loaded[NudgeBook]],
        metrics: NudgesMetrics,
        kafka_options: dict[str, Any] | None = None,
        window_s: float = 60.0,
    ) -> None:
        self._kafka_options = kafka_options or {}
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._pool = pool
        self._book = book
        self._metrics = metrics
        self._window = window_s
        self._sender: WeComSender | None = None

    async def run(self) -> None:
        """Forward until cancelled; a failure is logged, counted and forwarding starts again
        (from the last committed offset) after a back-off."""
        backoff = 1.0
        while True:
            started = time.monotonic()
            try:
                await self._forward()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._metrics.forwarder_failures.inc()
                log.exception("the WeCom forwarder failed; starting it again in %.0f s", backoff)
                await asyncio.sleep(backoff)
                # a forwarder that ran a while before failing starts again soon
                backoff = 1.0 if time.monotonic() - started > 60 else min(backoff * 2, 60.0)

    async def _forward(self) -> None:
        consumer = AIOKafkaConsumer(
            topics.physical(self._prefix, topics.NUDGES),
            bootstrap_servers=self._bootstrap,
            group_id=f"{self._prefix}gamify-nudges-wecom",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._kafka_options,
        )
        async with running(consumer), aiohttp.ClientSession() as session:
            self._sender = None
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=100)
                for records in batch.values():
                    for record in records:
                        await self._deliver(session, record.value)
                if batch:
                    await consumer.commit()

    async def _deliver(self, session: aiohttp.ClientSession, value: bytes | None) -> None:
        config = self._book().model.wecom
        try:
            nudge = Nudge.model_validate_json(value or b"")
        except ValidationError:
            return
        url = config.robots.get(nudge.camp_id, config.default_robot)
        if not config.enabled or nudge.kind not in config.kinds or not url:
            return
        if await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM wecom_delivered WHERE event_id = $1)", nudge.event_id
        ):
            self._metrics.channel.labels("wecom", "duplicate").inc()
            return
        if self._sender is None or self._sender.config is not config:
            limits = SharedLimits(self._pool, config.per_minute, self._window)
            self._sender = WeComSender(session, config, self._metrics, limits)
        if await self._sender.send(url, nudge.message):
            await self._pool.execute(
                "INSERT INTO wecom_delivered (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
                nudge.event_id,
            )
