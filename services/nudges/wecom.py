"""Delivery to WeCom (企业微信) group robots: praise and welcome-backs posted in the camp's
group, within the robot's rate limit (20 messages a minute), retried with back-off.

The forwarder reads `gamify.nudges` in a consumer group of its own and commits after each
batch is delivered: at-least-once, so a crash mid-batch can post a message twice."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from services.nudges.config import NudgeBook, WeCom
from services.nudges.metrics import NudgesMetrics
from shared import topics
from shared.config import Loaded
from shared.events import Nudge

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


class WeComSender:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: WeCom,
        metrics: NudgesMetrics,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], float] = time.monotonic,
        base_delay: float = 1.0,
    ) -> None:
        self._session = session
        self.config = config
        self._metrics = metrics
        self._sleep = sleep
        self._now = now
        self._base_delay = base_delay
        self._windows: dict[str, SlidingWindow] = {}

    def _window(self, url: str) -> SlidingWindow:
        if url not in self._windows:
            self._windows[url] = SlidingWindow(self.config.per_minute, 60.0, self._now, self._sleep)
        return self._windows[url]

    async def send(self, url: str, text: str) -> bool:
        """Post one text message; True once WeCom accepted it."""
        body = {"msgtype": "text", "text": {"content": text}}
        for attempt in range(self.config.retries + 1):
            await self._window(url).acquire()
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
        book: Callable[[], Loaded[NudgeBook]],
        metrics: NudgesMetrics,
        kafka_options: dict[str, Any] | None = None,
    ) -> None:
        self._kafka_options = kafka_options or {}
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._book = book
        self._metrics = metrics
        self._sender: WeComSender | None = None

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            topics.physical(self._prefix, topics.NUDGES),
            bootstrap_servers=self._bootstrap,
            group_id=f"{self._prefix}gamify-nudges-wecom",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self._kafka_options,
        )
        await consumer.start()
        try:
            async with aiohttp.ClientSession() as session:
                while True:
                    batch = await consumer.getmany(timeout_ms=1000, max_records=100)
                    for records in batch.values():
                        for record in records:
                            await self._deliver(session, record.value)
                    if batch:
                        await consumer.commit()
        finally:
            await consumer.stop()

    async def _deliver(self, session: aiohttp.ClientSession, value: bytes | None) -> None:
        config = self._book().model.wecom
        try:
            nudge = Nudge.model_validate_json(value or b"")
        except ValidationError:
            return
        url = config.robots.get(nudge.camp_id, config.default_robot)
        if not config.enabled or nudge.kind not in config.kinds or not url:
            return
        if self._sender is None or self._sender.config is not config:
            self._sender = WeComSender(session, config, self._metrics)  # keeps its rate windows
        await self._sender.send(url, nudge.message)
