"""Pure points rules: (state, event, rules) -> awards. No I/O, no clock, no globals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.points.config import PointsRules
from shared.events import CheckIn


@dataclass(frozen=True, slots=True)
class Award:
    """A ledger entry to make. (camp_id, student_id, rule_id, cause) is paid at most once."""

    camp_id: str
    student_id: str
    rule_id: str
    cause: str
    delta: int
    source_event_id: str
    occurred_at: datetime


def checkin_awards(checkin: CheckIn, rules: PointsRules) -> list[Award]:
    """A check-in pays once per distinct camp day, make-ups included."""
    if rules.checkin.points <= 0:
        return []
    return [
        Award(
            camp_id=checkin.camp_id,
            student_id=checkin.student_id,
            rule_id="checkin",
            cause=f"day:{checkin.day}",
            delta=rules.checkin.points,
            source_event_id=checkin.event_id,
            occurred_at=checkin.occurred_at,
        )
    ]
