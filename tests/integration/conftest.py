from __future__ import annotations

from collections.abc import AsyncIterator

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
