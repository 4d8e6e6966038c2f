"""The WeCom (企业微信) group-robot channel against a local HTTP server that answers as WeCom
does: retries with back-off, the 20-a-minute rate limit, refusals, and the forwarder posting
the service's praise to the camp's robot."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from prometheus_client import CollectorRegistry

from services.nudges.app import MIGRATIONS, create_app
from services.nudges.config import DEFAULT_NUDGES_FILE, NudgeBook, WeCom
from services.nudges.metrics import NudgesMetrics
from services.nudges.wecom import (
    LocalLimits,
    SharedLimits,
    SlidingWindow,
    WeComForwarder,
    WeComSender,
)
from shared import topics
from shared.config import Loaded, load_yaml
from shared.db import apply_migrations, create_pool
from shared.embedded import free_port
from shared.service import PLUMBING_MIGRATIONS
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, metric, wait_for
from tests.integration.world import World, enrollment, review, submission


class FakeWeCom:
    """Answers like a WeCom robot webhook; `answers` are used up in order, then errcode 0."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.received: list[dict[str, Any]] = []
        self.arrived: list[float] = []  # time.monotonic() of each post
        self.port = free_port()

    async def _post(self, request: web.Request) -> web.Response:
        self.arrived.append(time.monotonic())
        self.received.append({"key": request.query.get("key"), **await request.json()})
        status, body = self.answers.pop(0) if self.answers else (200, {"errcode": 0})
        return web.json_response(body, status=status)

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.port}/cgi-bin/webhook/send?key={key}"


@pytest_asyncio.fixture
async def wecom() -> AsyncIterator[FakeWeCom]:
    fake = FakeWeCom()
    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", fake._post)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", fake.port).start()
    yield fake
    await runner.cleanup()


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def sender(
    http: aiohttp.ClientSession, fake_time: FakeTime, **config: Any
) -> tuple[WeComSender, NudgesMetrics]:
    metrics = NudgesMetrics(CollectorRegistry())
    wecom = WeCom(enabled=True, **config)
    limits = LocalLimits(wecom.per_minute, 60.0, fake_time.now, fake_time.sleep)
    return WeComSender(http, wecom, metrics, limits, sleep=fake_time.sleep), metrics


def counted(metrics: NudgesMetrics, outcome: str) -> float:
    return metrics.channel.labels("wecom", outcome)._value.get()


async def test_a_message_is_posted_as_wecom_text(wecom: FakeWeCom) -> None:
    clock = FakeTime()
    async with aiohttp.ClientSession() as http:
        s, metrics = sender(http, clock)
        assert await s.send(wecom.url("k1"), "🎉 你好")
    assert wecom.received == [{"key": "k1", "msgtype": "text", "text": {"content": "🎉 你好"}}]
    assert counted(metrics, "sent") == 1


async def test_errors_are_retried_with_backoff_then_counted(wecom: FakeWeCom) -> None:
    wecom.answers = [
        (500, {}),
        (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
        (502, {}),
    ]
    clock = FakeTime()
    async with aiohttp.ClientSession() as http:
        s, metrics = sender(http, clock)
        assert await s.send(wecom.url("k1"), "hi")
    assert len(wecom.received) == 4
    assert clock.slept == [1.0, 2.0, 4.0]
    assert counted(metrics, "retry_http_500") == 1
    assert counted(metrics, "retry_rate_limited") == 1
    assert counted(metrics, "sent") == 1

    wecom.answers = [(500, {})] * 3
    clock.slept.clear()
    async with aiohttp.ClientSession() as http:
        s, metrics = sender(http, clock, retries=2)
        assert not await s.send(wecom.url("k1"), "hi")
    assert clock.slept == [1.0, 2.0]
    assert counted(metrics, "failed") == 1


async def test_a_refused_message_is_not_retried(wecom: FakeWeCom) -> None:
    wecom.answers = [(200, {"errcode": 93000, "errmsg": "invalid webhook url"})]
    clock = FakeTime()
    async with aiohttp.ClientSession() as http:
        s, metrics = sender(http, clock)
        assert not await s.send(wecom.url("bad"), "hi")
    assert len(wecom.received) == 1 and clock.slept == []
    assert counted(metrics, "refused") == 1


async def test_a_network_error_is_retried() -> None:
    clock = FakeTime()
    async with aiohttp.ClientSession() as http:
        s, metrics = sender(http, clock, retries=1)
        assert not await s.send(f"http://127.0.0.1:{free_port()}/nobody", "hi")
    assert counted(metrics, "retry_network_error") == 2 and counted(metrics, "failed") == 1


async def test_at_most_20_messages_a_minute_per_robot(wecom: FakeWeCom) -> None:
    clock = FakeTime()
    async with aiohttp.ClientSession() as http:
        s, _ = sender(http, clock)
        sent_at: list[float] = []
        for i in range(45):
            await s.send(wecom.url("busy"), f"m{i}")
            sent_at.append(clock.now())
        await s.send(wecom.url("quiet"), "another robot is not held up")
    assert len(wecom.received) == 46
    for i in range(len(sent_at) - 20):
        assert sent_at[i + 20] - sent_at[i] >= 60.0  # any 21 posts span a minute or more
    assert sent_at[19] == sent_at[0] and sent_at[20] == sent_at[0] + 60.0
    assert clock.now() == sent_at[-1]  # the second robot did not wait


async def test_the_sliding_window_alone() -> None:
    clock = FakeTime()
    window = SlidingWindow(2, 10.0, clock.now, clock.sleep)
    for _ in range(5):
        await window.acquire()
    assert clock.slept == [10.0, 10.0]


async def test_the_service_posts_praise_to_the_camps_robot(
    wecom: FakeWeCom, bus: Bus, topic_settings: Settings, tmp_path: Path
) -> None:
    book = DEFAULT_NUDGES_FILE.read_text(encoding="utf-8").replace(
        "wecom:                     # WeCom group robots for public praise (off by default)\n"
        "  enabled: false\n"
        "  kinds: [praise, welcome_back]\n"
        "  robots: {}",
        "wecom:\n"
        "  enabled: true\n"
        "  kinds: [praise, welcome_back]\n"
        f"  robots: {json.dumps({'wc': wecom.url('camp-wc')})}",
    )
    assert "enabled: true" in book
    nudges_file = tmp_path / "nudges.yaml"
    nudges_file.write_text(book, encoding="utf-8")
    settings = topic_settings.model_copy(update={"nudges_file": nudges_file})
    runtime = create_app(settings)
    await runtime.start()
    try:
        w = World(bus, settings, runtime)
        await w.send(topics.CAMPS, camp("wc", starts_on="2026-11-20", reminder="20:00"))
        await w.send(topics.ENROLLMENTS, enrollment("wc", "zoe", "张小语", "2026-11-10T10:00:00Z"))
        await w.tick("2026-11-20T00:00:05+08:00")
        await w.send(
            topics.CHECKINS, checkin("wc", "zoe", 1, occurred_at="2026-11-20T09:00:00+08:00")
        )
        await w.tick("2026-11-21T00:00:05+08:00")
        await w.send(
            topics.SUBMISSIONS,
            submission("wc", "zoe", "w9", "冬日静物", "2026-11-21T09:00:00+08:00"),
        )
        await w.send(topics.REVIEWS, review("wc", "zoe", "w9", "2026-11-21T10:00:00+08:00"))
        await w.tick("2026-11-21T10:00:01+08:00")

        async def posted() -> bool:
            return len(wecom.received) >= 1

        await wait_for(posted, what="the praise posted to the robot")
        await asyncio.sleep(0.5)
        assert len(wecom.received) == 1
        [post] = wecom.received
        assert post["key"] == "camp-wc" and "张小语" in post["text"]["content"]
        assert "冬日静物" in post["text"]["content"]
        samples = (await w.metrics())[0]
        assert metric(samples, "gamify_channel_deliveries_total", outcome="sent") == 1
    finally:
        await runtime.stop()


async def nudges_pool(database_url: str) -> asyncpg.Pool:
    pool = await create_pool(database_url, "nudges", 4)
    await apply_migrations(
        pool, "nudges", [("plumbing", PLUMBING_MIGRATIONS), ("nudges", MIGRATIONS)]
    )
    return pool


async def test_the_robots_limit_holds_across_replicas(wecom: FakeWeCom, database_url: str) -> None:
    """Two replicas, each with its own sender, post to one robot at once: the limit they share
    in PostgreSQL (here 5 posts per 2 s) holds over the posts the robot received."""
    pool = await nudges_pool(database_url)
    try:
        async with aiohttp.ClientSession() as http:
            replicas = [
                WeComSender(
                    http,
                    WeCom(enabled=True, per_minute=5),
                    NudgesMetrics(CollectorRegistry()),
                    SharedLimits(pool, 5, window=2.0),
                )
                for _ in range(2)
            ]
            await asyncio.gather(
                *(
                    r.send(wecom.url("busy"), f"{n}-{i}")
                    for n, r in enumerate(replicas)
                    for i in range(7)
                )
            )
    finally:
        await pool.close()
    assert len(wecom.arrived) == 14
    times = sorted(wecom.arrived)
    for i in range(len(times) - 5):
        assert times[i + 5] - times[i] >= 1.9, times  # any 6 posts span the window


async def test_a_republished_nudge_is_posted_once(
    wecom: FakeWeCom, bus: Bus, settings: Settings, database_url: str
) -> None:
    pool = await nudges_pool(database_url)
    book = load_yaml(DEFAULT_NUDGES_FILE, NudgeBook)
    enabled = book.model.model_copy(
        update={"wecom": WeCom(enabled=True, robots={"rp": wecom.url("rp")})}
    )
    metrics = NudgesMetrics(CollectorRegistry())
    forwarder = WeComForwarder(
        settings.kafka_bootstrap,
        settings.topic_prefix,
        pool,
        lambda: Loaded(enabled, book.version, book.path),
        metrics,
    )
    praise = {
        "event_id": "nudge-praise-1",
        "occurred_at": "2026-11-21T10:00:00+08:00",
        "camp_id": "rp",
        "student_id": "zoe",
        "kind": "praise",
        "segment": "active",
        "template_id": "praise-1",
        "message": "太棒了",
        "due_at": "2026-11-21T10:00:00+08:00",
    }
    task = asyncio.create_task(forwarder.run())
    try:
        for _ in range(3):  # published, then republished twice (a relay retry, a replay)
            await bus.send(topics.NUDGES, praise, key="zoe")
        await wait_for(lambda: _at_least(metrics, "duplicate", 2), what="both copies seen")
    finally:
        task.cancel()
        await pool.close()
    assert len(wecom.received) == 1
    assert counted(metrics, "sent") == 1


async def _at_least(metrics: NudgesMetrics, outcome: str, n: int) -> bool:
    return counted(metrics, outcome) >= n


async def test_a_failing_forwarder_is_counted_and_started_again(
    settings: Settings, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = NudgesMetrics(CollectorRegistry())
    book = load_yaml(DEFAULT_NUDGES_FILE, NudgeBook)
    forwarder = WeComForwarder("127.0.0.1:1", "", None, lambda: book, metrics)  # type: ignore[arg-type]
    runs: list[int] = []
    healthy = asyncio.Event()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise RuntimeError("the broker went away")
        healthy.set()
        await asyncio.Event().wait()

    forwarder._forward = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(forwarder.run())
    try:
        await asyncio.wait_for(healthy.wait(), 10)
    finally:
        task.cancel()
    assert metrics.forwarder_failures._value.get() == 2
    assert sum("the WeCom forwarder failed" in r.message for r in caplog.records) == 2


async def test_the_teachers_robot_lists_works_about_to_wait_24_hours(
    wecom: FakeWeCom, bus: Bus, topic_settings: Settings, tmp_path: Path
) -> None:
    book = DEFAULT_NUDGES_FILE.read_text(encoding="utf-8").replace(
        "teachers_robot:            # the teachers' WeCom robot: works about to wait 24 hours"
        " for a review\n  enabled: false\n  robots: {}",
        "teachers_robot:\n  enabled: true\n"
        f"  robots: {json.dumps({'tr': wecom.url('teachers-tr')})}",
    )
    assert "enabled: true" in book
    nudges_file = tmp_path / "nudges.yaml"
    nudges_file.write_text(book, encoding="utf-8")
    settings = topic_settings.model_copy(update={"nudges_file": nudges_file})
    runtime = create_app(settings)
    await runtime.start()
    try:
        w = World(bus, settings, runtime)
        await w.send(topics.CAMPS, camp("tr", starts_on="2026-11-20"))
        await w.send(topics.ENROLLMENTS, enrollment("tr", "zoe", "张小语", "2026-11-10T10:00:00Z"))
        await w.send(
            topics.SUBMISSIONS,
            submission("tr", "zoe", "old", "秋叶", "2026-11-20T08:00:00+08:00"),
            submission("tr", "zoe", "near", "冬日静物", "2026-11-20T09:00:00+08:00"),
            submission("tr", "zoe", "done", "晨光", "2026-11-20T09:30:00+08:00"),
            submission("tr", "zoe", "new", "夜色", "2026-11-21T01:00:00+08:00"),
        )
        await w.send(topics.REVIEWS, review("tr", "zoe", "done", "2026-11-20T12:00:00+08:00"))
        await w.tick("2026-11-21T06:00:00+08:00")  # "old" waited 22 h, "near" 21 h
        await wait_for(lambda: _posted(wecom, 1), what="the digest posted")
        await w.tick("2026-11-21T07:00:00+08:00")  # the same 2-hour period: no second post
        await asyncio.sleep(0.5)
        assert len(wecom.received) == 1
        [post] = wecom.received
        text = post["text"]["content"]
        assert post["key"] == "teachers-tr" and "2 份作业" in text
        assert text.index("秋叶") < text.index("冬日静物")  # oldest first
        assert "晨光" not in text and "夜色" not in text  # reviewed; only 5 hours old
        await w.tick("2026-11-21T08:30:00+08:00")  # the next period: "old" is past 24 hours
        await wait_for(lambda: _posted(wecom, 2), what="the next period's digest")
        assert "秋叶》已等待 24.5 小时，已超时" in wecom.received[1]["text"]["content"]
    finally:
        await runtime.stop()


async def _posted(wecom: FakeWeCom, n: int) -> bool:
    return len(wecom.received) >= n
