"""The points service on the real broker and PostgreSQL, as the live tests of its rules drive
it: events, its ledger, a rules file of its own (waiting until it settled: tests.helpers)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg

from services.points.app import create_app
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import new_id

AT = "2026-11-22T20:05:00+08:00"


def event(**fields: Any) -> dict[str, Any]:
    return {"event_id": new_id(), "occurred_at": AT, **fields}


async def ledger(settings: Settings, student: str | None = None) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT * FROM points.ledger WHERE $1::text IS NULL OR student_id = $1 ORDER BY id",
            student,
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def points_with_rules(
    settings: Settings, rules_file: Path, text: str
) -> AsyncIterator[ServiceRuntime]:
    """A points service started on a rules file holding `text`."""
    write_rules(rules_file, text)
    runtime = create_app(settings.model_copy(update={"rules_file": rules_file}))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def write_rules(rules_file: Path, text: str) -> None:
    rules_file.write_text(text, encoding="utf-8")


def change_rules(rules_file: Path, text: str, mtime: int) -> None:
    """Ops edit the file (a new modification time: the service takes it at its next batch)."""
    write_rules(rules_file, text)
    os.utime(rules_file, (mtime, mtime))
