"""The outbox relay's producer: idempotent where the broker allows it."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, UnknownError, UnsupportedVersionError

from shared.security import kafka_options
from shared.settings import Settings

log = logging.getLogger(__name__)

# What a broker without idempotent producers answers InitProducerId with.
REFUSALS = (UnknownError, UnsupportedVersionError)


async def start_relay_producer(s: Settings) -> AIOKafkaProducer:
    """A started producer for the relay: acks from every in-sync replica, one record batch per
    partition per round (shared.outbox), and idempotence per GAMIFY_KAFKA_IDEMPOTENCE.

    With idempotence the broker drops a batch it already wrote when the producer sends it
    again after a lost acknowledgement, so retries within a producer's life add no duplicate;
    a relay restarted after a crash may still publish a row twice (a new producer id), always
    under the same event_id."""
    if s.kafka_idempotence != "off":
        producer = _producer(s, idempotent=True)
        try:
            await producer.start()
            return producer
        except REFUSALS as exc:
            await producer.stop()
            if s.kafka_idempotence == "on":
                raise KafkaError(
                    f"the broker at {s.kafka_bootstrap} refuses idempotent producers ({exc!r});"
                    " (GAMIFY_KAFKA_IDEMPOTENCE=auto or off publishes without)"
                ) from exc
            log.warning(
                "the broker refuses idempotent producers (%r): the relay publishes without"
                " idempotence (retries may write a batch twice, under the same event ids)",
                exc,
            )
    producer = _producer(s, idempotent=False)
    await producer.start()
    return producer


def _producer(s: Settings, idempotent: bool) -> AIOKafkaProducer:
    options: dict[str, Any] = kafka_options(s)
    return AIOKafkaProducer(
        bootstrap_servers=s.kafka_bootstrap,
        acks="all",
        linger_ms=5,
        max_batch_size=512 * 1024,
        enable_idempotence=idempotent,
        **options,
    )
