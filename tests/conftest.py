"""Session-wide real infrastructure: the embedded Kafka-compatible broker and PostgreSQL.

Every test gets its own database and its own topic prefix, so tests never see each other.
Set GAMIFY_TEST_DATABASE_URL to use an existing PostgreSQL server instead of an embedded one,
and GAMIFY_TEST_KAFKA=apache to run on Apache Kafka (from its jars) instead of the embedded
broker.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from shared import topics
from shared.apache_kafka import ApacheKafka
from shared.embedded import (
    EmbeddedKafka,
    EmbeddedPostgres,
    create_database,
    drop_database,
    free_port,
    local_kafka,
)
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import TEST_KAFKA, Bus

CONNECTED_DIRS = ("integration", "e2e", "faults")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(f"{os.sep}{d}{os.sep}" in str(item.path) for d in CONNECTED_DIRS):
            item.add_marker(pytest.mark.connected)


@pytest.fixture(scope="session")
def kafka() -> Iterator[EmbeddedKafka | ApacheKafka]:
    broker = local_kafka(TEST_KAFKA, free_port())
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("GAMIFY_TEST_DATABASE_URL")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="gamify-pg-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "data", cleanup="delete")
        yield server.start()
        server.stop()


@pytest_asyncio.fixture
async def database_url(pg_admin_url: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = await create_database(pg_admin_url, name)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
def settings(kafka: EmbeddedKafka | ApacheKafka, database_url: str) -> Settings:
    return Settings(
        kafka_bootstrap=kafka.bootstrap,
        database_url=database_url,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        http_port=0,
        batch_timeout_ms=20,
        # Short, for quick rebalances; Apache Kafka refuses a session timeout below its
        # group.min.session.timeout.ms (6,000 ms by default, kept as users run it).
        kafka_session_timeout_ms=2000 if TEST_KAFKA == "embedded" else 6000,
        kafka_heartbeat_ms=500,
    )


@pytest_asyncio.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    # The test's topics exist before anything is sent, as the services would make them: the
    # brokers do not create topics on first use (compose.yaml's Apache Kafka does not either).
    await topics.ensure_topics(
        settings.kafka_bootstrap,
        [topics.physical(settings.topic_prefix, t) for t in topics.ALL],
        settings.topic_partitions,
    )
    b = Bus(settings.kafka_bootstrap, settings.topic_prefix)
    await b.start()
    yield b
    await b.stop()


@pytest_asyncio.fixture
async def all_services(settings: Settings) -> AsyncIterator[list[ServiceRuntime]]:
    """The four services in this process, on the topic clock (points, badges, nudges,
    contests)."""
    from services.badges.app import create_app as badges
    from services.contests.app import create_app as contests
    from services.nudges.app import create_app as nudges
    from services.points.app import create_app as points

    timed = settings.model_copy(update={"clock": "topic", "scheduler_interval_s": 0.2})
    runtimes = [make(timed) for make in (points, badges, nudges, contests)]
    for r in runtimes:
        await r.start()
    yield runtimes
    for r in runtimes:
        await r.stop()
