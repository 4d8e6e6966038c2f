"""The batch processor against a real database when a batch cannot be applied whole: an event
its handler fails on is dead-lettered alone (reason `handler`) and the rest of the batch is
applied; an event_id reused with other content is dead-lettered once (reason `conflict`),
and a redelivery of either changes nothing. Either way of taking events in: expecting none
seen before (a plain insert into the inbox, which a redelivery makes fail: the batch is run
again the other way), or some (ON CONFLICT)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import NamedTuple

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import ConsumerRecord

from shared import processor as processor_module
from shared import topics
from shared.db import apply_migrations, create_pool
from shared.events import DeadLetter
from shared.metrics import ServiceMetrics
from shared.outbox import OutMessage, derived_event_id
from shared.processor import BatchProcessor, Received
from shared.service import PLUMBING_MIGRATIONS
from tests.helpers import OUTBOX_EVENTS, checkin

MODELS = {topics.CHECKINS: topics.MODELS[topics.CHECKINS]}
DEAD_LETTERED = "gamify_events_dead_lettered_total"


def record(offset: int, event: dict[str, object]) -> ConsumerRecord:
    key, value = str(event["student_id"]).encode(), json.dumps(event).encode()
    return ConsumerRecord(
        topics.CHECKINS, 0, offset, 0, 0, key, value, None, len(key), len(value), []
    )


class FailsOnBad:
    """A handler that fails on any batch holding the event `bad`, and notes what it applied."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    async def __call__(
        self, conn: asyncpg.Connection, events: Sequence[Received]
    ) -> list[OutMessage]:
        ids = [i.event.event_id for i in events]
        if "bad" in ids:
            raise RuntimeError("the rules broke on this one")
        self.applied += ids
        return []


async def letters(pool: asyncpg.Pool) -> list[DeadLetter]:
    rows = await pool.fetch(OUTBOX_EVENTS)
    return [DeadLetter.model_validate_json(r["payload"]) for r in rows if r["topic"] == topics.DLQ]


@pytest.fixture(params=["cautious", "expecting_new"])
def first_batches(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How a new processor takes in its first batches: expecting some events seen before
    (as after a start), or none (as once it has applied a few batches)."""
    if request.param == "expecting_new":
        monkeypatch.setattr(processor_module, "CAUTIOUS_BATCHES", 0)
    return str(request.param)


class Rig(NamedTuple):
    pool: asyncpg.Pool
    handler: FailsOnBad
    metrics: ServiceMetrics
    processor: BatchProcessor


@pytest_asyncio.fixture
async def rig(database_url: str, first_batches: str) -> AsyncIterator[Rig]:
    """A processor of check-ins on the real database, its handler failing on `bad`."""
    pool = await create_pool(database_url, "batchfail", 2)
    try:
        await apply_migrations(pool, "batchfail", [("plumbing", PLUMBING_MIGRATIONS)])
        metrics = ServiceMetrics("batchfail")
        handler = FailsOnBad()
        yield Rig(
            pool, handler, metrics, BatchProcessor("batchfail", pool, MODELS, handler, metrics)
        )
    finally:
        await pool.close()


async def test_a_failing_event_and_a_reused_id_are_dead_lettered_once_and_the_rest_applied(
    rig: Rig,
) -> None:
    pool, handler, metrics, processor = rig
    good, bad = checkin("c", "s1", 1, "good"), checkin("c", "s2", 1, "bad")
    reused = checkin("c", "s3", 2, "good")  # good's id, other content
    batch = [record(0, good), record(1, bad), record(2, reused)]
    for _ in range(2):  # the second time, a redelivery of the whole batch
        await processor.process(batch)
    assert handler.applied == ["good"]
    sent = await letters(pool)
    reasons = [(d.offset, d.error.split(":")[0]) for d in sent]
    assert reasons == [(1, "handler"), (2, "conflict")]
    assert [d.event_id for d in sent] == [
        derived_event_id("dlq", "batchfail", topics.CHECKINS, "bad"),
        derived_event_id("dlq", "batchfail", topics.CHECKINS, "@0:2"),
    ]
    assert json.loads(sent[0].value) == bad and json.loads(sent[1].value) == reused
    assert "the rules broke on this one" in sent[0].error
    for reason in ("handler", "conflict"):
        labels = {"service": "batchfail", "topic": topics.CHECKINS, "reason": reason}
        assert metrics.registry.get_sample_value(DEAD_LETTERED, labels) == 1


async def test_a_redelivered_event_is_applied_once_however_it_is_taken_in(rig: Rig) -> None:
    pool, handler, metrics, processor = rig
    one, two, three = (checkin("c", f"s{n}", 1, f"e{n}") for n in (1, 2, 3))
    await processor.process([record(0, one), record(1, two)])
    await processor.process([record(1, two), record(2, three), record(3, three)])
    assert handler.applied == ["e1", "e2", "e3"]
    assert await letters(pool) == []
    processed = "gamify_events_processed_total"
    labels = {"service": "batchfail", "topic": topics.CHECKINS}
    outcomes = {
        o: metrics.registry.get_sample_value(processed, {**labels, "outcome": o})
        for o in ("applied", "duplicate")
    }
    assert outcomes == {"applied": 3, "duplicate": 2}
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 3
