"""Kafka clients started and always stopped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar


class _Client(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


C = TypeVar("C", bound=_Client)


@asynccontextmanager
async def running(client: C) -> AsyncIterator[C]:
    """`client` started, and stopped on leaving, even when its start failed or was
    cancelled. (`async with client` stops nothing whose start raised: aiokafka leaves such a
    client open, warning "Unclosed AIOKafkaConsumer" when it is collected, and a forwarder
    that restarts against a broker that is down would leave one behind at every attempt.)"""
    try:
        await client.start()
        yield client
    finally:
        await client.stop()
