"""A stop step that never finishes is abandoned after its bound: a stop always ends."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.service import _within


async def test_a_step_that_never_finishes_is_abandoned_within_its_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = time.monotonic()
    assert await _within(0.05, "a stuck step", asyncio.Event().wait()) is False
    assert time.monotonic() - started < 1.0
    assert "a stuck step did not finish" in caplog.text


async def test_a_step_that_finishes_is_awaited_to_its_end() -> None:
    done: list[bool] = []

    async def step() -> None:
        await asyncio.sleep(0.01)
        done.append(True)

    assert await _within(1.0, "a quick step", step()) is True
    assert done == [True]
