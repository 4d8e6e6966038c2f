from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.points.config import CheckinRule, PointsRules
from services.points.rules import Award, checkin_awards
from shared.events import CheckIn

AT = datetime(2026, 11, 22, 12, tzinfo=UTC)


def checkin(day: int) -> CheckIn:
    return CheckIn(event_id=f"e{day}", occurred_at=AT, camp_id="c", student_id="s", day=day)


@pytest.mark.parametrize("day", [1, 2, 21, 366])
def test_a_checkin_pays_the_configured_points_for_its_day(day: int) -> None:
    assert checkin_awards(checkin(day), PointsRules()) == [
        Award("c", "s", "checkin", f"day:{day}", 10, f"e{day}", AT, day)
    ]


def test_the_cause_is_the_day_so_two_checkins_of_one_day_share_it() -> None:
    first = checkin_awards(checkin(3), PointsRules())[0]
    again = checkin_awards(checkin(3).model_copy(update={"event_id": "other"}), PointsRules())[0]
    assert (first.rule_id, first.cause) == (again.rule_id, again.cause)


@pytest.mark.parametrize(("points", "paid"), [(0, []), (25, [25])])
def test_amount_comes_from_the_rules(points: int, paid: list[int]) -> None:
    rules = PointsRules(checkin=CheckinRule(points=points))
    assert [a.delta for a in checkin_awards(checkin(1), rules)] == paid
