"""The ledger's writes: each entry's output event written with it, exactly as the contract's
model would write it; a cause paid by another transaction between the read of paid causes and
the insert refuses the batch (Contended, which the consumer retries) and nothing of it stays."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.points import ledger, store
from services.points.rules import Award
from shared.db import TRANSIENT_ERRORS, Contended, apply_migrations, create_pool
from shared.events import PointsEntry
from shared.outbox import derived_event_id, events_waiting
from shared.service import PLUMBING_MIGRATIONS
from shared.settings import Settings
from tests.helpers import OUTBOX_EVENTS

POINTS_MIGRATIONS = Path(store.__file__).parent / "migrations"


def award(cause: str, delta: int = 10) -> Award:
    return Award("c1", "s1", "checkin", cause, delta, f"e-{cause}", datetime.now(UTC), 1)


async def test_each_entry_writes_its_points_event_as_the_model_would(settings: Settings) -> None:
    pool = await create_pool(settings.database_url, "points", 1)
    try:
        await apply_migrations(
            pool, "points", [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS_MIGRATIONS)]
        )
        at = datetime(2026, 11, 20, 20, 0, 30, 250_000, tzinfo=timezone(timedelta(hours=8)))
        paid = [
            Award("c1", "s1", "checkin", "day:3", 5, "e1", at, 3),
            Award("c1", "s1", "streak", "run:3", 20, "e1", at, 3),
            Award("c1", "s1", "redeem", "r1", -8, "e2", at, 3),
        ]
        async with pool.acquire() as conn, conn.transaction():
            assert await ledger.record_awards(conn, paid, "v1") == paid
            assert await ledger.record_awards(conn, paid, "v1") == []  # paid already
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 1  # one row, in order
        rows = await pool.fetch(OUTBOX_EVENTS)
        events = [PointsEntry.model_validate_json(r["payload"]) for r in rows]
        assert [json.loads(r["payload"]) for r in rows] == [
            json.loads(e.model_dump_json()) for e in events
        ]  # nothing the model would drop or change
        assert [(r["topic"], r["key"], e.event_id) for r, e in zip(rows, events, strict=True)] == [
            ("gamify.points", "s1", derived_event_id("points", "c1", "s1", a.rule_id, a.cause))
            for a in paid
        ]
        assert [(e.event_id, e.delta, e.rule_id, e.balance, e.occurred_at) for e in events] == [
            (derived_event_id("points", "c1", "s1", "checkin", "day:3"), 5, "checkin", 5, at),
            (derived_event_id("points", "c1", "s1", "streak", "run:3"), 20, "streak", 25, at),
            (derived_event_id("points", "c1", "s1", "redeem", "r1"), -8, "redeem", 17, at),
        ]
        assert {(e.camp_id, e.student_id) for e in events} == {("c1", "s1")}
        assert [e.source_event_id for e in events] == ["e1", "e1", "e2"]
        written = await pool.fetch("SELECT cause, balance_after FROM ledger ORDER BY id")
        assert [(r["cause"], r["balance_after"]) for r in written] == [
            ("day:3", 5),
            ("run:3", 25),
            ("r1", 17),
        ]
    finally:
        await pool.close()


async def test_a_cause_paid_meanwhile_rolls_the_batch_back(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = await create_pool(settings.database_url, "points", 2)
    try:
        await apply_migrations(
            pool, "points", [("plumbing", PLUMBING_MIGRATIONS), ("points", POINTS_MIGRATIONS)]
        )
        async with pool.acquire() as conn, conn.transaction():
            await ledger.record_awards(conn, [award("day:1")], "v1")

        async def nothing_paid(_conn: object, _awards: object) -> set[object]:
            return set()  # as if day:1 was paid after this transaction read the ledger

        monkeypatch.setattr(ledger, "_paid_causes", nothing_paid)
        with pytest.raises(Contended):
            async with pool.acquire() as conn, conn.transaction():
                await ledger.record_awards(conn, [award("day:2"), award("day:1")], "v1")
        assert Contended in TRANSIENT_ERRORS  # the consumer runs the batch again

        rows = await pool.fetch("SELECT cause, balance_after FROM ledger ORDER BY id")
        assert [(r["cause"], r["balance_after"]) for r in rows] == [("day:1", 10)]
        assert await events_waiting(pool) == 1  # day:1's event only
        assert await store.balance(pool, "c1", "s1") == 10  # the balance move rolled back
    finally:
        await pool.close()
