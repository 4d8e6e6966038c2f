"""Streak freezes seen from the nudges service: the freezes bought (from gamify.redemptions)
and, under the points rules' streak.freeze, the missed days a freeze held, so that a student
is told their streak was saved (a `streak_saved` nudge instead of the next day's reminder)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import asyncpg

from services.nudges.store import CampRow, Pair
from services.points.config import PointsRules
from shared.camp_days import camp_day
from shared.config import Loaded
from shared.db import pair_columns, students_rows
from shared.events import RedemptionResult
from shared.leave import NO_LEAVE
from shared.streaks import freezes

PointsRulesSource = Callable[[], Loaded[PointsRules]]


async def save_accepted(conn: asyncpg.Connection, results: Sequence[RedemptionResult]) -> None:
    rows = sorted({(r.camp_id, r.request_id): r for r in results if r.status == "accepted"}.items())
    if rows:
        await conn.execute(
            "INSERT INTO redemptions_accepted SELECT * FROM unnest($1::text[], $2::text[],"
            " $3::text[], $4::text[], $5::timestamptz[]) ON CONFLICT DO NOTHING",
            [r.camp_id for _, r in rows],
            [r.student_id for _, r in rows],
            [r.request_id for _, r in rows],
            [r.item_id for _, r in rows],
            [r.occurred_at for _, r in rows],
        )


async def bought(
    conn: asyncpg.Connection, pairs: Sequence[Pair], item_ids: dict[str, str]
) -> dict[Pair, list[datetime]]:
    """When each student bought their camp's item (`item_ids`: camp -> item)."""
    wanted = [p for p in pairs if p[0] in item_ids]
    if not wanted:
        return {}
    camps, students_ = pair_columns(wanted)
    rows = await conn.fetch(
        "SELECT t.camp_id, t.student_id, t.item_id, t.requested_at"
        f" FROM {students_rows('redemptions_accepted')}",
        camps,
        students_,
    )
    out: dict[Pair, list[datetime]] = {}
    for r in rows:
        if item_ids[r["camp_id"]] == r["item_id"]:
            out.setdefault((r["camp_id"], r["student_id"]), []).append(r["requested_at"])
    return out


async def saved_yesterday(
    conn: asyncpg.Connection,
    rows: Sequence[asyncpg.Record],
    camps: Mapping[str, CampRow],
    days: Mapping[Pair, Mapping[int, int]],
    leaves: Mapping[Pair, frozenset[int]],
    points_rules: PointsRules,
) -> set[tuple[Pair, int]]:
    """(student, day) of the due reminders whose student had day - 1 held by a freeze."""
    enabled = {c: f for c in camps if (f := points_rules.for_camp(c).streak.freeze).enabled}
    due = [r for r in rows if r["kind"] == "reminder" and r["camp_id"] in enabled]
    if not due:
        return set()
    pairs = sorted({(r["camp_id"], r["student_id"]) for r in due})
    items = {c: f.item_id for c, f in enabled.items() if f.item_id}
    on = await bought(conn, pairs, items)
    out: set[tuple[Pair, int]] = set()
    for r in due:
        pair, day = (r["camp_id"], r["student_id"]), r["day"]
        camp, f = camps[pair[0]], enabled[pair[0]]
        when = [camp_day(camp.starts_on, camp.timezone, at) for at in on.get(pair, [])]
        checked = [d for d in days.get(pair, {}) if d < day]
        used = freezes(
            checked, leaves.get(pair, NO_LEAVE), when, f.earn_every_days, f.max_held, day
        )
        if day - 1 in used.frozen:
            out.add((pair, day))
    return out
