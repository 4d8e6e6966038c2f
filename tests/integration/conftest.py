from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from services.points.app import create_app
from shared.service import ServiceRuntime
from shared.settings import Settings


@pytest_asyncio.fixture
async def points(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    runtime = create_app(settings)
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest_asyncio.fixture
async def badges(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    from services.badges.app import create_app as create_badges

    runtime = create_badges(settings)
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture
def topic_settings(settings: Settings) -> Settings:
    """Settings for a service living on simulated time (`gamify.clock` ticks)."""
    return settings.model_copy(update={"clock": "topic", "scheduler_interval_s": 0.2})


@pytest_asyncio.fixture
async def nudges(topic_settings: Settings) -> AsyncIterator[ServiceRuntime]:
    from services.nudges.app import create_app as create_nudges

    runtime = create_nudges(topic_settings)
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest_asyncio.fixture
async def contests(topic_settings: Settings) -> AsyncIterator[ServiceRuntime]:
    from services.contests.app import create_app as create_contests

    runtime = create_contests(topic_settings)
    await runtime.start()
    yield runtime
    await runtime.stop()
