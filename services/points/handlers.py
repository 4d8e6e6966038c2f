"""The points service's business step: events in, ledger entries and output events out."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from services.points import rules, store
from services.points.config import PointsRules
from services.points.metrics import PointsMetrics
from shared import topics
from shared.config import Loaded
from shared.consumer import Received
from shared.events import CheckIn, PointsEntry
from shared.outbox import OutMessage, derived_event_id

INPUTS = [topics.CHECKINS]

RulesSource = Callable[[], Loaded[PointsRules]]


class PointsHandler:
    """Pays what the rules in force say, once per cause."""

    def __init__(self, current_rules: RulesSource, metrics: PointsMetrics) -> None:
        self._rules = current_rules
        self._metrics = metrics

    async def __call__(
        self, conn: asyncpg.Connection, events: Sequence[Received]
    ) -> list[OutMessage]:
        loaded = self._rules()
        awards = [
            award
            for item in events
            if isinstance(item.event, CheckIn)
            for award in rules.checkin_awards(item.event, loaded.model)
        ]
        entries = await store.record_awards(conn, awards, loaded.version)
        self._metrics.count(entries)
        return [_points_message(e) for e in entries]


def _points_message(entry: store.Entry) -> OutMessage:
    event = PointsEntry(
        event_id=derived_event_id(
            "points", entry.camp_id, entry.student_id, entry.rule_id, entry.cause
        ),
        occurred_at=entry.occurred_at,
        camp_id=entry.camp_id,
        student_id=entry.student_id,
        delta=entry.delta,
        rule_id=entry.rule_id,
        source_event_id=entry.source_event_id,
        balance=entry.balance_after,
    )
    return OutMessage(topics.POINTS, entry.student_id, event)
