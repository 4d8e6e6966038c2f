"""The integrity gate in front of every service's handler (rules: shared.integrity).

It passes on only check-ins, shares and reviews that count. What it cannot judge yet waits in
`gate_held`, inside the batch's transaction, for what it needs (a check-in for its camp, a
share or review for its submission) and is judged when that arrives: the outcome never depends
on arrival order. Refusals named by the contract go to gamify.dlq with the rule as reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, NamedTuple

import asyncpg
from prometheus_client import CollectorRegistry, Counter

from shared import camps as shared_camps
from shared import integrity, topics
from shared.db import lock_keys
from shared.events import Camp, CheckIn, Event, Review, Share, Submission
from shared.integrity import CampCalendar
from shared.outbox import OutMessage
from shared.processor import BatchHandler, MoreWork, Received, Refused

# Held events taken out per transaction once what they wait for is known.
RELEASE_CHUNK = 500

_CAMPS_READ: ContextVar[Mapping[str, CampCalendar] | None] = ContextVar(
    "gate_camps_read", default=None
)


def camps_read() -> Mapping[str, CampCalendar]:
    """In the inner handler's call: the camps the gate read in this transaction, those of the
    check-ins and shares it passed (each with a camp known), so that the handler needs no
    read of its own. Empty anywhere else."""
    return _CAMPS_READ.get() or {}


def missing_for_gate(inputs: Sequence[str]) -> list[str]:
    """What a service taking `inputs` must also take for its gate to judge them."""
    missing = []
    if topics.CHECKINS in inputs and topics.CAMPS not in inputs:
        missing.append(topics.CAMPS)
    if {topics.SHARES, topics.REVIEWS} & set(inputs) and topics.SUBMISSIONS not in inputs:
        missing.append(topics.SUBMISSIONS)
    return missing


class GateMetrics:
    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self._service = service
        self.refused = Counter(
            "gamify_integrity_refused",
            "Check-ins, shares and reviews that count nowhere, by rule (contract, Integrity).",
            ["service", "reason"],
            registry=registry,
        )
        self.held = Counter(
            "gamify_integrity_held",
            "Events set aside until their camp or submission is known.",
            ["service"],
            registry=registry,
        )
        self.released = Counter(
            "gamify_integrity_released",
            "Held events judged once their camp or submission arrived.",
            ["service"],
            registry=registry,
        )
        for reason in integrity.REFUSALS:
            self.refused.labels(service, reason)
        self.held.labels(service)
        self.released.labels(service)

    def refuse(self, reason: str) -> None:
        self.refused.labels(self._service, reason).inc()

    def count_held(self, n: int) -> None:
        self.held.labels(self._service).inc(n)

    def count_released(self, n: int) -> None:
        self.released.labels(self._service).inc(n)


class _Wait(NamedTuple):
    camp_id: str
    submission_id: str | None  # None: waits for the camp


def _wait_key(event: Event) -> tuple[str, str | None]:
    if isinstance(event, CheckIn):
        return (event.camp_id, None)
    assert isinstance(event, Share | Review)
    return (event.camp_id, event.submission_id)


def _wait_of(event: Event) -> _Wait:
    return _Wait(*_wait_key(event))


def _waits_of(items: Sequence[Received]) -> list[_Wait]:
    """What these check-ins, shares and reviews wait for, each once. Plain tuples first: a
    batch of check-ins of one camp is one wait, and a named tuple per event cost 0.25 us."""
    keys = {_wait_key(e) for e in events_of(items, CheckIn, Share, Review)}
    return [_Wait(camp_id, submission_id) for camp_id, submission_id in keys]


def events_of(items: Sequence[Received], *kinds: type[Event]) -> list[Any]:
    return [i.event for i in items if isinstance(i.event, kinds)]


def _lock_key(w: _Wait) -> str:
    return (
        f"gate/camp/{w.camp_id}"
        if w.submission_id is None
        else (f"gate/submission/{w.camp_id}/{w.submission_id}")
    )


class IntegrityGate:
    """A BatchHandler that judges before `inner` sees anything, and feeds it what counts."""

    def __init__(
        self,
        inner: BatchHandler,
        inputs: Sequence[str],
        makeup_window_days: int | None,
        metrics: GateMetrics,
    ) -> None:
        missing = missing_for_gate(inputs)
        if missing:
            raise ValueError(f"the integrity gate needs these inputs too: {', '.join(missing)}")
        self._inner = inner
        self._window = makeup_window_days
        self._metrics = metrics
        self._inner_more = False
        self._check_held = True  # until a follow-up pass looked for events left held

    async def __call__(
        self, conn: asyncpg.Connection, events: Sequence[Received]
    ) -> list[OutMessage | Refused | MoreWork]:
        follow_up = not events
        camps = [i.event for i in events if isinstance(i.event, Camp)]
        subs = [i.event for i in events if isinstance(i.event, Submission)]
        judged = [i for i in events if isinstance(i.event, CheckIn | Share | Review)]
        arriving = [_Wait(c.camp_id, None) for c in camps]
        arriving += [_Wait(s.camp_id, s.submission_id) for s in subs]
        # A share waits for its submission and then its camp (points' daily cap is per camp
        # day): shares and submissions, whose shares may be released here, hold the camp too.
        camp_readers = [*events_of(judged, Share), *subs]
        await lock_keys(
            conn,
            exclusive=[_lock_key(w) for w in arriving],
            shared=[_lock_key(w) for w in _waits_of(judged)]
            + [_lock_key(_Wait(e.camp_id, None)) for e in camp_readers],
        )
        await _save(conn, camps, subs)
        released = await _release(conn, arriving, follow_up, RELEASE_CHUNK)
        more = len(released) == RELEASE_CHUNK or (self._check_held and not follow_up)
        if follow_up:
            self._check_held = False
        self._metrics.count_released(len(released))
        out: list[OutMessage | Refused | MoreWork] = []
        passed, calendars = await self._judge(conn, [*judged, *released], out)
        taken = {id(i) for i in judged}
        ready = [i for i in events if id(i) not in taken] + passed
        if ready or (follow_up and self._inner_more):
            token = _CAMPS_READ.set(calendars)
            try:
                results = list(await self._inner(conn, ready))
            finally:
                _CAMPS_READ.reset(token)
            self._inner_more = any(isinstance(r, MoreWork) for r in results)
            out += [r for r in results if not isinstance(r, MoreWork)]
            more = more or self._inner_more
        return [*out, MoreWork()] if more else out

    async def _judge(
        self,
        conn: asyncpg.Connection,
        items: list[Received],
        out: list[OutMessage | Refused | MoreWork],
    ) -> tuple[list[Received], dict[str, CampCalendar]]:
        """The items that count, and the camps read to judge them; refusals appended to `out`;
        the undecidable held."""
        camps = await _camps(conn, {e.camp_id for e in events_of(items, CheckIn, Share)})
        authors = await _authors(
            conn,
            {(e.camp_id, e.submission_id) for e in events_of(items, Share, Review)},
        )
        passed: list[Received] = []
        waiting: list[tuple[Received, _Wait]] = []
        for item in items:
            e = item.event
            assert isinstance(e, CheckIn | Share | Review)
            author = None if isinstance(e, CheckIn) else authors.get((e.camp_id, e.submission_id))
            verdict = integrity.judge(e, camps.get(e.camp_id), author, self._window)
            if verdict is integrity.WAITING:
                waiting.append((item, _wait_of(e)))
                continue
            if verdict is None and isinstance(e, Share) and e.camp_id not in camps:
                waiting.append((item, _Wait(e.camp_id, None)))  # its own, now its camp
                continue
            if verdict is None:
                passed.append(item)
                continue
            self._metrics.refuse(verdict.reason)
            if verdict.dead_lettered:
                out.append(Refused(item, verdict.detail, verdict.reason))
        await _hold(conn, waiting)
        self._metrics.count_held(len(waiting))
        return passed, camps


async def _save(conn: asyncpg.Connection, camps: list[Camp], subs: list[Submission]) -> None:
    await shared_camps.save_camps(
        conn,
        camps,
        "INSERT INTO gate_camps (camp_id, starts_on, timezone, occurred_at, days)"
        " SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::timestamptz[], $5::int[])"
        " ON CONFLICT (camp_id) DO UPDATE SET starts_on = excluded.starts_on,"
        " timezone = excluded.timezone, occurred_at = excluded.occurred_at, days = excluded.days"
        " WHERE gate_camps.occurred_at < excluded.occurred_at",
        ("camp_id", "starts_on", "timezone", "occurred_at", "days"),
    )
    if subs:  # a submission's author never changes: the first word stands
        await conn.execute(
            "INSERT INTO gate_submissions (camp_id, submission_id, student_id)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
            [s.camp_id for s in subs],
            [s.submission_id for s in subs],
            [s.student_id for s in subs],
        )


async def _camps(conn: asyncpg.Connection, camp_ids: set[str]) -> dict[str, CampCalendar]:
    if not camp_ids:
        return {}
    rows = await conn.fetch(
        "SELECT camp_id, starts_on, timezone, days FROM gate_camps WHERE camp_id = ANY($1::text[])",
        list(camp_ids),
    )
    return {r["camp_id"]: CampCalendar(*r) for r in rows}


async def _authors(
    conn: asyncpg.Connection, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT camp_id, submission_id, student_id FROM gate_submissions"
        " WHERE (camp_id, submission_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["camp_id"], r["submission_id"]): r["student_id"] for r in rows}


async def _hold(conn: asyncpg.Connection, waiting: list[tuple[Received, _Wait]]) -> None:
    if not waiting:
        return
    items = [i for i, _ in waiting]
    waits = [w for _, w in waiting]
    await conn.execute(
        "INSERT INTO gate_held (topic, event_id, camp_id, submission_id, payload)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
        " ON CONFLICT DO NOTHING",
        [i.topic for i in items],
        [i.event.event_id for i in items],
        [w.camp_id for w in waits],
        [w.submission_id for w in waits],
        [i.event.model_dump_json() for i in items],
    )


async def _release(
    conn: asyncpg.Connection, arriving: list[_Wait], follow_up: bool, limit: int
) -> list[Received]:
    """Take out up to `limit` held events that wait for what arrives (on a follow-up pass: for
    anything now known; a share only once its camp is known too, as no camp lock is held
    then to wait for it again), oldest first."""
    if follow_up:
        rows = await conn.fetch(
            "DELETE FROM gate_held WHERE (topic, event_id) IN (SELECT h.topic, h.event_id"
            " FROM gate_held h WHERE (CASE WHEN h.submission_id IS NULL"
            " THEN EXISTS (SELECT 1 FROM gate_camps c WHERE c.camp_id = h.camp_id)"
            " ELSE EXISTS (SELECT 1 FROM gate_submissions s WHERE s.camp_id = h.camp_id"
            " AND s.submission_id = h.submission_id) END)"
            " AND (h.topic <> $2"
            " OR EXISTS (SELECT 1 FROM gate_camps c WHERE c.camp_id = h.camp_id))"
            " ORDER BY h.seq LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING topic, payload, seq",
            limit,
            topics.SHARES,
        )
    elif arriving:
        # What waits for an arriving submission, and what waits for an arriving camp, each
        # found by its own probes of gate_held_waits: matched in one join (`IS NOT DISTINCT
        # FROM`, which no index serves), every batch of submissions compared every event held
        # in their camp with each of them (19 ms a batch at 10,000 held).
        submissions = [w for w in arriving if w.submission_id is not None]
        rows = await conn.fetch(
            "DELETE FROM gate_held WHERE ctid = ANY(ARRAY(SELECT w.ctid FROM ("
            " SELECT h.ctid, h.seq FROM unnest($1::text[], $2::text[]) AS a(c, s)"
            " CROSS JOIN LATERAL (SELECT ctid, seq FROM gate_held h"
            " WHERE h.camp_id = a.c AND h.submission_id = a.s"
            " ORDER BY h.seq LIMIT $3 FOR UPDATE SKIP LOCKED) AS h"
            " UNION ALL SELECT * FROM (SELECT ctid, seq FROM gate_held"
            " WHERE camp_id = ANY($4::text[]) AND submission_id IS NULL"
            " ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) AS c"
            ") AS w ORDER BY w.seq LIMIT $3)) RETURNING topic, payload, seq",
            [w.camp_id for w in submissions],
            [w.submission_id for w in submissions],
            limit,
            [w.camp_id for w in arriving if w.submission_id is None],
        )
    else:
        return []
    released = []
    for r in sorted(rows, key=lambda r: r["seq"]):
        event = topics.MODELS[r["topic"]].model_validate_json(r["payload"])
        key = getattr(event, topics.KEY_FIELDS.get(r["topic"], "student_id"), None)
        released.append(Received(r["topic"], -1, -1, key, event))
    return released
