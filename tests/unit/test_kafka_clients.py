"""A Kafka client is stopped however its start ends: done, failed or cancelled."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from services.nudges import wecom
from services.nudges.config import DEFAULT_NUDGES_FILE, NudgeBook
from services.nudges.metrics import NudgesMetrics
from shared.config import load_yaml
from shared.embedded import free_port
from shared.kafka_clients import running
from tests.helpers import wait_for


class Client:
    def __init__(self, start: asyncio.Future[None] | None = None) -> None:
        self._start = start
        self.stopped = False

    async def start(self) -> None:
        if self._start is not None:
            await self._start

    async def stop(self) -> None:
        self.stopped = True


async def test_a_client_whose_start_fails_is_stopped() -> None:
    failing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    failing.set_exception(ConnectionError("no broker"))
    client = Client(failing)
    with pytest.raises(ConnectionError):
        async with running(client):
            pytest.fail("a client that did not start was used")
    assert client.stopped


async def test_a_client_whose_start_is_cancelled_is_stopped() -> None:
    client = Client(asyncio.get_running_loop().create_future())  # a start that never ends
    task = asyncio.create_task(running(client).__aenter__())
    await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert client.stopped


async def test_a_client_is_stopped_after_use() -> None:
    client = Client()
    async with running(client) as same:
        assert same is client and not client.stopped
    assert client.stopped


async def test_a_forwarder_retrying_a_broker_that_is_down_stops_each_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[Recorded] = []

    class Recorded(AIOKafkaConsumer):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.stopped = False
            made.append(self)

        async def stop(self) -> None:
            self.stopped = True
            await super().stop()

    monkeypatch.setattr(wecom, "AIOKafkaConsumer", Recorded)
    metrics = NudgesMetrics(CollectorRegistry())
    book = load_yaml(DEFAULT_NUDGES_FILE, NudgeBook)
    nobody = f"127.0.0.1:{free_port()}"
    forwarder = wecom.WeComForwarder(nobody, "", None, lambda: book, metrics)  # type: ignore[arg-type]

    async def failed_once() -> bool:
        return metrics.forwarder_failures._value.get() >= 1

    task = asyncio.create_task(forwarder.run())
    try:
        await wait_for(failed_once, timeout=10, what="a failed start")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert made and all(c.stopped for c in made)
