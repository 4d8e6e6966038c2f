"""Badges' awards and their gamify.badges events are written by one statement: an event for
each award not held before, and none for one already held (a racing replica's)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.badges import store
from services.badges.app import MIGRATIONS
from services.badges.store import NewAward
from shared import topics
from shared.db import apply_migrations, create_pool
from shared.service import PLUMBING_MIGRATIONS

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def new_award(student: str, badge: str) -> NewAward:
    return NewAward("c1", student, badge, f"cause-{student}-{badge}", AT)


async def test_only_new_awards_get_an_event_in_rows_of_at_most_row_events(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "ROW_EVENTS", 2)
    pool = await create_pool(database_url, "badges", 1)
    try:
        await apply_migrations(
            pool, "badges", [("plumbing", PLUMBING_MIGRATIONS), ("badges", MIGRATIONS)]
        )
        async with pool.acquire() as conn:
            first = [new_award("ann", "streak-7"), new_award("bob", "completion")]
            assert await store.award(conn, first, "v1", ["ann-7", "bob-c"]) == first
            # ann's streak-7 is held already (another replica, or this batch again)
            again = [
                new_award("ann", "streak-7"),
                new_award("ann", "streak-21"),
                new_award("cy", "completion"),
                new_award("dee", "completion"),
            ]
            payloads = ["ann-7 again", "ann-21", "cy-c", "dee-c"]
            assert await store.award(conn, again, "v1", payloads) == again[1:]
            rows = await conn.fetch("SELECT topics, keys, payloads FROM outbox ORDER BY id")
    finally:
        await pool.close()
    assert [list(r["payloads"]) for r in rows] == [
        ["ann-7", "bob-c"],
        ["ann-21"],
        ["cy-c", "dee-c"],
    ]
    assert [list(r["keys"]) for r in rows] == [["ann", "bob"], ["ann"], ["cy", "dee"]]
    assert {t for r in rows for t in r["topics"]} == {topics.BADGES}
