"""Every service keeps the camps it has seen in a table of its own: the latest definition of
each wins, whatever order they arrive in. The choosing and the parameters are written once
here; each service's statement names its own table and columns."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from shared.events import Assignment, Camp, latest_camps


def assignments_json(camp: Camp) -> str:
    """A camp's homework schedule as stored (a jsonb column)."""
    return json.dumps([a.model_dump() for a in camp.assignments])


def assignments_of(stored: str | None) -> tuple[Assignment, ...]:
    """The schedule back from its column (trusted: it was validated on the way in)."""
    return tuple(Assignment.model_construct(**a) for a in json.loads(stored or "[]"))


# column -> the value from a Camp
VALUES: dict[str, Callable[[Camp], Any]] = {
    "camp_id": lambda c: c.camp_id,
    "title": lambda c: c.title,
    "starts_on": lambda c: c.starts_on,
    "days": lambda c: c.days,
    "timezone": lambda c: c.timezone,
    "lessons": lambda c: c.lessons,
    "cohort_time": lambda c: c.cohort_reminder_time,
    "occurred_at": lambda c: c.occurred_at,
    "assignments": assignments_json,
}


async def save_camps(
    conn: asyncpg.Connection, camps: Sequence[Camp], upsert: str, columns: Sequence[str]
) -> None:
    """Run `upsert` (an INSERT ... SELECT * FROM unnest($1, $2, ...) ON CONFLICT (camp_id) DO
    UPDATE ... WHERE <table>.occurred_at < excluded.occurred_at) with one array per column of
    `columns`, for the latest definition of each camp."""
    rows = latest_camps(camps)
    if rows:
        await conn.execute(upsert, *[[VALUES[name](c) for c in rows] for name in columns])
