from __future__ import annotations

import logging
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from shared import topics
from shared.settings import Settings


async def test_created_topics_take_records_at_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """ensure_topics returns once the new partitions have leaders: a producer sending at once
    is never refused (on Apache Kafka it was, NotLeaderForPartition for each partition)."""
    names = [f"{settings.topic_prefix}fresh.{uuid.uuid4().hex[:8]}.{n}" for n in range(4)]
    await topics.ensure_topics(settings.kafka_bootstrap, names, 6)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="aiokafka"):
            for name in names:
                for partition in range(6):
                    await producer.send_and_wait(name, b"{}", partition=partition)
    finally:
        await producer.stop()
    refusals = [r.getMessage() for r in caplog.records if "NotLeader" in r.getMessage()]
    assert refusals == []
