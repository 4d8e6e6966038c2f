"""`gamify points explain`: why a student holds the points they hold, from the ledger."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.points import store


async def explain(database_url: str, student_id: str, camp_id: str | None = None) -> str:
    """A readable account of every ledger entry of the student, per camp, with totals."""
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=1, server_settings={"search_path": "points"}
    )
    assert pool is not None
    try:
        entries = await store.history(pool, student_id, camp_id, limit=100_000)
        zones = {
            r["camp_id"]: r["timezone"]
            for r in await pool.fetch(
                "SELECT camp_id, timezone FROM camps WHERE camp_id = ANY($1::text[])",
                sorted({e["camp_id"] for e in entries}),
            )
        }
    finally:
        await pool.close()
    if not entries:
        where = f" in camp {camp_id}" if camp_id else ""
        return f"{student_id} has no ledger entries{where}: balance 0."
    by_camp: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        by_camp[e["camp_id"]].append(e)
    return "\n\n".join(
        _camp_account(student_id, camp, rows, zones.get(camp)) for camp, rows in by_camp.items()
    )


def _camp_account(
    student_id: str, camp_id: str, rows: list[dict[str, Any]], timezone: str | None
) -> str:
    """Times are the camp's local times (UTC while its definition is unknown), and say so."""
    zone = ZoneInfo(timezone) if timezone else UTC
    balance = rows[-1]["balance_after"]
    lines = [
        f"{student_id} in camp {camp_id}: balance {balance}",
        f"  times in {timezone or 'UTC'}",
        "",
    ]
    lines.append(
        f"  {'when':<16} {'rule':<17} {'cause':<24} {'points':>7} {'balance':>8}  "
        "source event / rules version"
    )
    for e in rows:
        when = e["occurred_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M")
        lines.append(
            f"  {when:<16} {e['rule_id']:<17} {e['cause'][:24]:<24} {e['delta']:>+7} "
            f"{e['balance_after']:>8}  {e['source_event_id']} / {e['rules_version']}"
        )
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in rows:
        totals[e["rule_id"]][0] += 1
        totals[e["rule_id"]][1] += e["delta"]
    lines.append("")
    lines.append(
        "  by rule: "
        + ", ".join(f"{rule} {count}x = {total:+}" for rule, (count, total) in totals.items())
        + f"; total {sum(t for _, t in totals.values())}"
    )
    return "\n".join(lines)
