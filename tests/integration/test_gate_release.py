"""Releasing held events finds them by index, whatever else waits in the camp: a camp's many
reviews held for submissions not yet known cost a batch of other submissions nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from shared import gate, topics
from shared.db import apply_migrations, create_pool
from shared.service import PLUMBING_MIGRATIONS
from tests.helpers import checkin

C = "camp"
HELD_FOR_OTHERS = 3000


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, "gate_release", 2)
    await apply_migrations(p, "gate_release", [("plumbing", PLUMBING_MIGRATIONS)])
    yield p
    await p.close()


def _held(topic: str, event: dict[str, Any], submission: str | None) -> tuple[object, ...]:
    """A gate_held row of `event`, stored as the gate stores it (validated, re-serialized)."""
    model = topics.MODELS[topic].model_validate_json(json.dumps(event))
    return (topic, model.event_id, C, submission, model.model_dump_json())


def _review(n: int, submission: str) -> tuple[object, ...]:
    review = {
        "event_id": f"rev-{n}",
        "occurred_at": "2026-11-21T10:00:00+08:00",
        "camp_id": C,
        "student_id": f"s{n}",
        "submission_id": submission,
        "reviewer_id": "teacher",
        "score": 90,
        "excellent": False,
    }
    return _held(topics.REVIEWS, review, submission)


def _checkin(n: int) -> tuple[object, ...]:
    return _held(topics.CHECKINS, checkin(C, f"s{n}", 1, event_id=f"ci-{n}"), None)


async def test_a_batch_of_submissions_releases_only_their_reviews_by_index(
    pool: asyncpg.Pool,
) -> None:
    held = [_review(n, f"other-{n}") for n in range(HELD_FOR_OTHERS)]
    held += [_review(HELD_FOR_OTHERS + n, "w1") for n in range(3)] + [_checkin(1), _checkin(2)]
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO gate_held (topic, event_id, camp_id, submission_id, payload)"
            " VALUES ($1, $2, $3, $4, $5)",
            held,
        )
        await conn.execute("ANALYZE gate_held")
        async with conn.transaction():
            arriving = [gate._Wait(C, "w1"), gate._Wait(C, "w2")]
            released = await gate._release(conn, arriving, False, gate.RELEASE_CHUNK)
            read_whole = await conn.fetchval(  # rows read by scanning the table, not by index
                "SELECT seq_tup_read FROM pg_stat_xact_user_tables WHERE relname = 'gate_held'"
            )
        assert sorted(r.event.event_id for r in released) == [
            f"rev-{HELD_FOR_OTHERS + n}" for n in range(3)
        ]
        assert read_whole == 0  # the one join read all 3,000 others, for each submission
        async with conn.transaction():
            released = await gate._release(conn, [gate._Wait(C, None)], False, 1)
        assert [r.event.event_id for r in released] == ["ci-1"]  # oldest first, `limit` of them
        left = await conn.fetchval("SELECT count(*) FROM gate_held")
        assert left == HELD_FOR_OTHERS + 1
