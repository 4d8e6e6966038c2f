"""Applying a batch of input records in one database transaction: each record decoded and
checked against the contract, the inbox (a redelivered event changes nothing), the service's
handler, dead letters and output events into the outbox, with retries. The offsets are
committed afterwards by the lanes (shared/lanes.py) through the intake
(shared/kafka_intake.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

import asyncpg
from aiokafka import ConsumerRecord
from pydantic import ValidationError

from shared import integrity, topics
from shared.db import TRANSIENT_ERRORS, Caution
from shared.events import DeadLetter, Event
from shared.inbox import Redelivered, take_in, take_in_invalid
from shared.logs import event_context
from shared.metrics import ServiceMetrics
from shared.outbox import OutMessage, derived_event_id, enqueue

log = logging.getLogger(__name__)

DLQ_VALUE_LIMIT = 64 * 1024
# Batches that take their events in expecting some seen before (shared.inbox.take_in): the
# first after a start (what was applied but not yet committed to Kafka comes again), and
# those after a batch that held a redelivery.
CAUTIOUS_BATCHES = 20
# Why a message goes to the dead-letter topic (the `reason` label of the metric).
REASONS = (
    "json",
    "schema",
    "key_mismatch",
    "domain",
    *integrity.DEAD_LETTERED,
    "conflict",
    "handler",
)


class Received(NamedTuple):
    """A valid input event and where it came from. (A named tuple: one per record, built in
    a third of a frozen dataclass's time.)"""

    topic: str
    partition: int
    offset: int
    key: str | None
    event: Event


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that could not be taken in, on its way to the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: str
    reason: str  # one of REASONS
    error: str
    event_id: str | None = None  # when the message was a valid event


@dataclass(frozen=True, slots=True)
class Refused:
    """A valid event that contradicts what the service knows (e.g. day 30 of a 21-day camp).

    A handler returns it among its outputs; it goes to the dead-letter topic (reason: domain).
    """

    item: Received
    error: str
    reason: str = "domain"  # or one of the integrity rules' names (shared.integrity)


@dataclass(frozen=True, slots=True)
class MoreWork:
    """Returned by a handler among its outputs: it left work of its own for later (events it
    had parked, say, taken out a chunk at a time so that no transaction grows without bound).
    After this batch's commit the processor calls it again, with no events, in a transaction
    of its own, until it stops asking."""


class BatchHandler(Protocol):
    """A service's business step: new (never seen) events in, output messages out.

    It runs inside the batch's transaction and must do all its I/O through `conn`. It is
    called with no events only after it returned `MoreWork`.
    """

    async def __call__(
        self, conn: asyncpg.Connection, events: Sequence[Received]
    ) -> Sequence[OutMessage | Refused | MoreWork]: ...


def _key_text(key: bytes | None) -> str | None:
    """A record's key as text that PostgreSQL can store (it goes with a dead letter through
    the outbox): invalid UTF-8 and NUL, which a text column cannot hold, become U+FFFD."""
    if key is None:
        return None
    return key.decode("utf-8", "replace").replace("\x00", "\ufffd")


def decode(
    record: ConsumerRecord, prefix: str, models: dict[str, type[Event]]
) -> Received | Rejected:
    """Parse and validate one Kafka record against its topic's model."""
    topic = topics.logical(prefix, record.topic)
    key = _key_text(record.key)
    raw = record.value or b""
    try:
        # The model's pydantic-core validator itself (documented on BaseModel): the same
        # validation without model_validate_json's wrapper, 0.4 us of each record's 2
        event = models[topic].__pydantic_validator__.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = "json" if first["type"] in ("json_invalid", "json_type") else "schema"
        return Rejected(
            topic, record.partition, record.offset, key, _text(raw), reason, _summary(exc)
        )
    field = topics.KEY_FIELDS.get(topic)
    if field is not None and key != getattr(event, field):
        return Rejected(
            topic,
            record.partition,
            record.offset,
            key,
            _text(raw),
            "key_mismatch",
            f"the key is {key!r}; messages of {topic} are keyed by their {field}"
            f" ({getattr(event, field)!r})",
        )
    return Received(topic, record.partition, record.offset, key, event)


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= DLQ_VALUE_LIMIT else text[:DLQ_VALUE_LIMIT] + "...[truncated]"


def _summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)[:2000]


class BatchProcessor:
    """Takes one batch of records from a partition set through one database transaction."""

    def __init__(
        self,
        service: str,
        pool: asyncpg.Pool,
        models: dict[str, type[Event]],
        handle: BatchHandler,
        metrics: ServiceMetrics,
        on_commit: Callable[[], None] = lambda: None,
        topic_prefix: str = "",
    ) -> None:
        self.service = service
        self._pool = pool
        self._models = models
        self._handle = handle
        self._metrics = metrics
        self._on_commit = on_commit
        self._prefix = topic_prefix
        self._caution = Caution(CAUTIOUS_BATCHES, careful_at_start=True)

    async def process(self, records: Sequence[ConsumerRecord]) -> None:
        """Apply the batch; returns only once its effects are committed (retrying meanwhile)."""
        with event_context(**_batch_fields(records, self._prefix)):
            await self._process(records)

    async def _process(self, records: Sequence[ConsumerRecord]) -> None:
        started = time.perf_counter()
        oldest_ms = min((r.timestamp for r in records), default=None)
        self._observe_age("taken", oldest_ms)
        items = [decode(r, self._prefix, self._models) for r in records]
        for topic, n in Counter(item.topic for item in items).items():
            self._metrics.consumed.labels(self.service, topic).inc(n)
        more = False
        try:
            more = await self._retrying("batch", lambda: self._apply(items))
        except Exception:
            log.exception("batch of %d failed; retrying its events one by one", len(items))
            for item in items:
                more = await self._apply_alone(item) or more
        self._on_commit()
        self._observe_age("applied", oldest_ms)
        while more:
            try:
                more = await self._retrying("more", lambda: self._apply([], more=True))
            except Exception:
                # What was left stays where the handler keeps it, for its next request.
                log.exception("the handler's own follow-up work failed; leaving it for later")
                more = False
            self._on_commit()
        self._metrics.batch_seconds.labels(self.service).observe(time.perf_counter() - started)
        self._metrics.batch_size.labels(self.service).observe(len(items))

    def _observe_age(self, stage: str, timestamp_ms: int | None) -> None:
        if timestamp_ms is not None and timestamp_ms > 0:  # -1: a record without a timestamp
            age = max(time.time() - timestamp_ms / 1000, 0.0)  # a producer's clock may run ahead
            self._metrics.event_age.labels(self.service, stage).observe(age)

    async def _apply_alone(self, item: Received | Rejected) -> bool:
        with _context_of(item):
            return await self._apply_alone_here(item)

    async def _apply_alone_here(self, item: Received | Rejected) -> bool:
        try:
            return await self._retrying("event", lambda: self._apply([item]))
        except Exception as exc:
            assert isinstance(item, Received), "dead-lettering cannot fail but for the database"
            log.exception("event failed in the handler; dead-lettering it")
            rejected = _rejected(item, "handler", repr(exc)[:2000], item.event.event_id)
            return await self._retrying("event", lambda: self._apply([rejected]))

    async def _retrying(self, stage: str, work: Callable[[], Awaitable[bool]]) -> bool:
        """Run `work` until it succeeds, backing off while the database is unreachable."""
        backoff = 0.1
        while True:
            try:
                return await work()
            except TRANSIENT_ERRORS as exc:
                self._metrics.retries.labels(self.service, stage).inc()
                log.warning("transient failure (%r); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _apply(self, items: Sequence[Received | Rejected], more: bool = False) -> bool:
        """Apply `items` in one transaction (with none and `more`: the handler's follow-up
        work); returns whether the handler asked for more (MoreWork)."""
        try:
            return await self._apply_once(items, more, expect_new=not self._caution.careful())
        except Redelivered:
            self._caution.failed()
            return await self._apply_once(items, more, expect_new=False)

    async def _apply_once(
        self, items: Sequence[Received | Rejected], more: bool, expect_new: bool
    ) -> bool:
        received = [i for i in items if isinstance(i, Received)]
        rejected = [i for i in items if isinstance(i, Rejected)]
        async with self._pool.acquire() as conn, conn.transaction():
            fresh, conflicting = await take_in(conn, received, expect_new)
            conflicts = [_conflict(r) for r in conflicting]
            results = list(await self._handle(conn, fresh)) if fresh or more else []
            outputs = [r for r in results if isinstance(r, OutMessage)]
            refused = [_refusal(r) for r in results if isinstance(r, Refused)]
            new_rejects = refused + await take_in_invalid(conn, [*rejected, *conflicts])
            outputs.extend(self._dead_letter(r) for r in new_rejects)
            await enqueue(conn, outputs)
        clashing = {(c.topic, c.partition, c.offset) for c in conflicts}
        taken = [r for r in received if (r.topic, r.partition, r.offset) not in clashing]
        self._count(taken, fresh, new_rejects)
        return any(isinstance(r, MoreWork) for r in results)

    def _count(
        self, received: Sequence[Received], fresh: Sequence[Received], rejects: Sequence[Rejected]
    ) -> None:
        trace = log.isEnabledFor(logging.DEBUG)
        outcomes: Counter[tuple[str, str]] = Counter()
        if len(fresh) == len(received) and not trace:  # a backlog's batch: all new
            outcomes.update((r.topic, "applied") for r in received)
        else:
            fresh_ids = {id(r) for r in fresh}
            for r in received:
                outcome = "applied" if id(r) in fresh_ids else "duplicate"
                outcomes[(r.topic, outcome)] += 1
                if trace:
                    with _context_of(r):
                        log.debug("event %s", outcome)
        for (topic, outcome), n in outcomes.items():
            self._metrics.processed.labels(self.service, topic, outcome).inc(n)
        for rej in rejects:
            self._metrics.dead_lettered.labels(self.service, rej.topic, rej.reason).inc()
            with _context_of(rej):
                log.warning("dead-lettered (%s): %s", rej.reason, rej.error)

    def _dead_letter(self, rej: Rejected) -> OutMessage:
        letter = DeadLetter(
            event_id=derived_event_id(
                "dlq", self.service, rej.topic, rej.event_id or f"@{rej.partition}:{rej.offset}"
            ),
            occurred_at=datetime.now(UTC),
            service=self.service,
            topic=rej.topic,
            partition=rej.partition,
            offset=rej.offset,
            key=rej.key,
            value=rej.value,
            error=f"{rej.reason}: {rej.error}",
        )
        return OutMessage(topics.DLQ, rej.key, letter)


def _batch_fields(records: Sequence[ConsumerRecord], prefix: str) -> dict[str, object]:
    """A batch's place in the log: its topic, partition and offsets, when it has one of each."""
    if not records:
        return {}
    names = {topics.logical(prefix, topic) for topic in {r.topic for r in records}}
    parts = {r.partition for r in records}
    first, last = min(r.offset for r in records), max(r.offset for r in records)
    return {
        "topic": names.pop() if len(names) == 1 else "several",
        "partition": parts.pop() if len(parts) == 1 else "several",
        "offset": first if first == last else f"{first}-{last}",
    }


def _context_of(item: Received | Rejected) -> contextlib.AbstractContextManager[None]:
    event_id = item.event.event_id if isinstance(item, Received) else item.event_id
    return event_context(
        event_id=event_id, topic=item.topic, partition=item.partition, offset=item.offset
    )


def _refusal(refused: Refused) -> Rejected:
    item = refused.item
    return _rejected(item, refused.reason, refused.error, item.event.event_id)


def _conflict(item: Received) -> Rejected:
    # By position, not by the event_id the first event holds: the letter's id and inbox mark.
    return _rejected(
        item,
        "conflict",
        f"event_id {item.event.event_id!r} was taken in before with different content;"
        " the first one counts",
        None,
    )


def _rejected(item: Received, reason: str, error: str, event_id: str | None) -> Rejected:
    """A valid event on its way to the dead-letter topic."""
    value = item.event.model_dump_json()
    return Rejected(
        item.topic, item.partition, item.offset, item.key, value, reason, error, event_id
    )
