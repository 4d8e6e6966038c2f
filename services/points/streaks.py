"""Points' streaks beyond the check-ins themselves: days of leave and days a streak freeze was
used on neither break nor extend a run, and a leave or a freeze bought can complete a run that
reaches a milestone without any new check-in."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import asyncpg

from services.points import rules, store
from services.points.config import PointsRules
from services.points.rules import Award, CampInfo
from shared import leave_store
from shared.camp_days import camp_day, longest_run
from shared.events import Event
from shared.leave import NO_LEAVE
from shared.streaks import Freezes, current_run, freezes

Pair = tuple[str, str]


async def transparent_days(
    conn: asyncpg.Connection,
    days: Mapping[Pair, Collection[int]],
    all_rules: PointsRules,
    leave_cap: int | None,
    leave: dict[Pair, frozenset[int]] | None = None,
) -> dict[Pair, frozenset[int]]:
    """Each student's days that neither break nor extend a run: days of leave (`leave`, if
    the caller has read them), and the missed days a streak freeze was used on (where the
    camp's rules enable freezes)."""
    pairs = list(days)
    if leave is None:
        leave = await leave_store.leaves_of(conn, pairs, leave_cap)
    frozen_rules = {
        c: r for c in {p[0] for p in pairs} if (r := all_rules.for_camp(c).streak.freeze).enabled
    }
    if not frozen_rules:
        return leave
    items = {c: r.item_id for c, r in frozen_rules.items() if r.item_id}
    bought = await store.freezes_bought(conn, pairs, items)
    camps = await store.load_camps(conn, set(frozen_rules))
    out = dict(leave)
    for pair in pairs:
        f, camp = frozen_rules.get(pair[0]), camps.get(pair[0])
        if f is None or camp is None or not days[pair]:
            continue
        on = [camp_day(camp.starts_on, camp.timezone, at) for at in bought.get(pair, [])]
        away = leave.get(pair, NO_LEAVE)
        used = freezes(days[pair], away, on, f.earn_every_days, f.max_held, max(days[pair]))
        out[pair] = away | used.frozen
    return out


async def restreak(
    conn: asyncpg.Connection,
    sources: Mapping[Pair, Event],
    counted: set[Pair],
    all_rules: PointsRules,
    leave_cap: int | None,
) -> list[Award]:
    """The streak milestones of students with a new leave or freeze (`sources`: the event that
    brought it) whose streak was not counted with this batch's check-ins (`counted`)."""
    pairs = sorted(p for p in sources if p not in counted)
    if not pairs:
        return []
    days = await store.calendar_days(conn, pairs)
    through = await transparent_days(
        conn, {p: days.get(p, []) for p in pairs}, all_rules, leave_cap
    )
    return [
        award
        for p in pairs
        for award in rules.streak_awards(
            *p,
            days.get(p, []),
            all_rules.for_camp(p[0]),
            sources[p],
            leave=through.get(p, NO_LEAVE),
        )
    ]


async def streak_view(
    conn: asyncpg.Connection,
    camp: CampInfo,
    pair: Pair,
    days: list[int],
    today: int,
    all_rules: PointsRules,
    leave_cap: int | None,
) -> dict[str, Any]:
    """What the read API shows of a student's streak as of camp day `today`."""
    leave = (await leave_store.leaves_of(conn, [pair], leave_cap)).get(pair, NO_LEAVE)
    f = all_rules.for_camp(camp.camp_id).streak.freeze
    used = Freezes(frozenset(), 0, 0, 0)
    if f.enabled:
        items = {camp.camp_id: f.item_id} if f.item_id else {}
        bought = (await store.freezes_bought(conn, [pair], items)).get(pair, [])
        on = [camp.day_of(at) for at in bought]
        used = freezes(days, leave, on, f.earn_every_days, f.max_held, today)
    through = leave | used.frozen
    return {
        "longest_run": longest_run(days, through),
        "current_run": current_run(days, through, today),
        "leave_days": sorted(leave),
        "freezes": {
            "enabled": f.enabled,
            "held": used.held,
            "earned": used.earned,
            "bought": used.bought,
            "used_on": sorted(used.frozen),
        },
    }
