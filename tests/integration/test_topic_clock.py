from __future__ import annotations

import json
from datetime import datetime

from aiokafka import AIOKafkaProducer

from shared import topics
from shared.clock import EPOCH, TopicClock
from shared.settings import Settings
from tests.helpers import wait_for


async def test_topic_clock_follows_the_latest_tick_and_never_goes_back(settings: Settings) -> None:
    name = topics.physical(settings.topic_prefix, topics.CLOCK)
    await topics.ensure_topics(settings.kafka_bootstrap, [name], 1)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=False
    )
    await producer.start()
    await producer.send_and_wait(name, json.dumps({"now": "2026-11-22T08:00:00+08:00"}).encode())
    clock = TopicClock(settings.kafka_bootstrap, name)
    assert clock.now() == EPOCH
    await clock.start()
    try:
        first = datetime.fromisoformat("2026-11-22T08:00:00+08:00")
        await wait_for(lambda: _is(clock, first), what="the tick published before start")
        for value in (
            b'{"now": "2026-11-23T09:00:00+08:00"}',
            b'{"now": "2026-11-23T01:00:00+08:00"}',  # older: ignored
            b"not json",
            b'{"now": "2026-11-23T10:00:00"}',
        ):  # malformed, naive
            await producer.send_and_wait(name, value)
        later = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
        await wait_for(lambda: _is(clock, later), what="the newer tick")
        await producer.send_and_wait(name, b'{"now": "2026-11-24T00:00:00+00:00"}')
        await wait_for(
            lambda: _is(clock, datetime.fromisoformat("2026-11-24T00:00:00+00:00")),
            what="the last tick",
        )
    finally:
        await clock.stop()
        await producer.stop()


async def _is(clock: TopicClock, expected: datetime) -> bool:
    return clock.now() == expected
