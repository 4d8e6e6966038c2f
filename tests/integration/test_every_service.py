"""What every service owes, written once and run for each of the four: a redelivered event
changes nothing, bad input is dead-lettered with its raw value and counted, a crash between
the database commit and the offset commit loses nothing and pays nothing twice, metrics and
health are served, and a stop is clean."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
import pytest_asyncio

from shared import topics
from shared.service import ServiceRuntime
from shared.settings import SERVICES, Settings
from tests.helpers import Bus, camp, checkin, metric, new_id, processed, scrape, settled, wait_for
from tests.services import ServiceProcess

BOOKKEEPING = {"inbox", "outbox", "schema_migrations"}
# Time stands still (no ticks on gamify.clock): no day starts and no week closes mid-test.
STILL = {"GAMIFY_CLOCK": "topic"}


def enrollment(camp_id: str, student: str) -> dict[str, Any]:
    return {
        "event_id": new_id("enr"),
        "occurred_at": "2026-11-10T10:00:00+08:00",
        "camp_id": camp_id,
        "student_id": student,
        "display_name": student,
    }


def sample(service: str) -> tuple[str, dict[str, Any]]:
    """An event of one of the service's own inputs that changes its state."""
    if service in ("points", "badges"):
        return topics.CHECKINS, checkin("every", "ann", 1)
    return topics.ENROLLMENTS, enrollment("every", "ann")


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def runtime(service: str, settings: Settings) -> AsyncIterator[ServiceRuntime]:
    app = importlib.import_module(f"services.{service}.app")
    r: ServiceRuntime = app.create_app(settings.model_copy(update={"clock": "topic"}))
    await r.start()
    yield r
    await r.stop()


async def state(database_url: str, schema: str) -> dict[str, list[str]]:
    """Every row of the service's business tables (not its inbox, outbox or migrations)."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
        out = {}
        for t in tables:
            name = t["table_name"]
            if name not in BOOKKEEPING:
                rows = await conn.fetch(f'SELECT t::text AS row FROM "{schema}"."{name}" t')
                out[name] = sorted(r["row"] for r in rows)
        return out
    finally:
        await conn.close()


async def test_a_redelivered_event_changes_nothing(
    service: str, runtime: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("every"))
    topic, event = sample(service)
    await bus.send(topic, event)
    await settled(runtime, 2)
    before = await state(settings.database_url, service)
    assert any(before.values()), "the sample event changed nothing: the test would prove nothing"
    await bus.send(topic, event)  # the same event again
    await settled(runtime, 3)
    assert await state(settings.database_url, service) == before
    samples = await scrape(runtime.http_port)
    assert metric(samples, "gamify_events_processed_total", outcome="duplicate") == 1


async def test_bad_input_is_dead_lettered_with_its_raw_value_and_counted(
    service: str, runtime: ServiceRuntime, bus: Bus
) -> None:
    topic, _ = sample(service)
    raw = b'{"event_id": "half a message'
    await bus.send(topic, raw, key="ann")
    letters = await bus.read(topics.DLQ, until=lambda m: len(m) >= 1)
    [letter] = [d for d in letters if d["service"] == service]
    assert letter["topic"] == topic and letter["value"] == raw.decode()
    assert letter["error"].startswith("json:")
    samples = await scrape(runtime.http_port)
    assert metric(samples, "gamify_events_dead_lettered_total", reason="json", topic=topic) == 1


async def test_metrics_and_health_are_served(service: str, runtime: ServiceRuntime) -> None:
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{runtime.http_port}"
        async with http.get(f"{base}/metrics") as r:
            assert r.status == 200 and "gamify_events_consumed_total" in await r.text()
        async with http.get(f"{base}/health/live") as r:
            assert r.status == 200 and (await r.json())["service"] == service
        async with http.get(f"{base}/health/ready") as r:
            assert r.status == 200


async def test_a_crash_between_commits_loses_nothing_and_repeats_nothing(
    service: str, settings: Settings, bus: Bus
) -> None:
    first = ServiceProcess(
        service, settings, **STILL
    ).start()  # the camp, by a process that stays up
    try:
        await first.ready()
        await bus.send(topics.CAMPS, camp("every"))
        await wait_for(lambda: _has_camp(settings, service), 30, "the camp stored")
    finally:
        assert first.stop() == 0  # a clean stop
    crashing = ServiceProcess(
        service, settings, GAMIFY_FAULT="exit-after-db-commit", **STILL
    ).start()
    topic, event = sample(service)
    try:
        await crashing.ready()
        await bus.send(topic, event)
        assert crashing.proc is not None
        assert await asyncio.to_thread(crashing.proc.wait, 30) == 17
    finally:
        crashing.stop()
    committed = await state(settings.database_url, service)
    restarted = ServiceProcess(service, settings, **STILL).start()
    try:
        await restarted.ready()

        async def redelivered() -> bool:
            s = await scrape(restarted.port)
            return metric(s, "gamify_events_processed_total", outcome="duplicate") >= 1

        await wait_for(redelivered, 30, "the uncommitted batch redelivered")
        assert await processed(settings.database_url, service, [event["event_id"]])
        assert await state(settings.database_url, service) == committed  # applied once
    finally:
        assert restarted.stop() == 0


async def _has_camp(settings: Settings, schema: str) -> bool:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return bool(await conn.fetchval(f'SELECT count(*) FROM "{schema}".camps'))
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()
