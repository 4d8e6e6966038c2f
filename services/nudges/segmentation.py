"""Keeping segments current: recompute, store, and publish every move between segments."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.nudges import rules, store
from services.nudges.metrics import NudgesMetrics
from shared import topics
from shared.events import SegmentChange
from shared.leave import NO_LEAVE
from shared.outbox import OutMessage, derived_event_id


async def refresh(
    conn: asyncpg.Connection,
    camp: store.CampRow,
    students: Sequence[str],
    day: int,
    at: datetime,
    metrics: NudgesMetrics,
    known: store.Calendars,
) -> list[OutMessage]:
    """Recompute the segment of `students` on camp day `day` (from their check-ins and days
    of leave, in `known` with their stored segments); publish those that moved."""
    pairs = [(camp.camp_id, s) for s in students]
    if not pairs:
        return []
    days, leaves, stored = known.days, known.leaves, known.segments
    rows: list[tuple[str, str, int, str]] = []
    moves: list[OutMessage] = []
    counts: Counter[tuple[str, str]] = Counter()  # a metric's labels() once per move kind
    for pair in pairs:
        segment = rules.segment_on(days.get(pair, {}).keys(), day, leaves.get(pair, NO_LEAVE))
        previous = stored.get(pair)
        if previous == (day, segment):
            continue
        rows.append((pair[0], pair[1], day, segment))
        before = previous[1] if previous else None
        if before == segment:
            continue
        counts[(before or "none", segment)] += 1
        event = SegmentChange(
            event_id=derived_event_id("segment", pair[0], pair[1], day, segment),
            occurred_at=at,
            camp_id=pair[0],
            student_id=pair[1],
            day=day,
            previous=before,  # type: ignore[arg-type]
            segment=segment,
        )
        moves.append(OutMessage(topics.SEGMENTS, pair[1], event))
    await store.set_segments(conn, rows)
    for (before, after), n in counts.items():
        metrics.moves.labels(before, after).inc(n)
    return moves
