"""The contract's integrity rules, as pure functions (shared.integrity)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared import integrity
from shared.events import CheckIn, Review, Share
from shared.integrity import CampCalendar

# Camp day 1 is 2026-11-20 in Shanghai (UTC+8).
CAMP = CampCalendar("c", date(2026, 11, 20), "Asia/Shanghai")
DAY_3_NOON = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def checkin(day: int, at: datetime) -> CheckIn:
    return CheckIn(event_id="e", occurred_at=at, camp_id="c", student_id="s", day=day)


def reason(verdict: integrity.Verdict | None) -> str | None:
    return verdict.reason if verdict else None


@pytest.mark.parametrize(
    ("day", "window", "at", "expected"),
    [
        (3, None, DAY_3_NOON, None),  # today
        (4, None, DAY_3_NOON, "future_day"),  # tomorrow
        (21, None, DAY_3_NOON, "future_day"),  # the whole camp on day 3
        (1, None, datetime(2026, 11, 19, 15, 59, tzinfo=UTC), "future_day"),  # before day 1
        (1, None, datetime(2026, 11, 19, 16, 0, tzinfo=UTC), None),  # 00:00 of day 1, local
        (1, None, datetime(2026, 12, 10, tzinfo=UTC), None),  # make-ups count by default
        (1, 2, DAY_3_NOON, None),  # two days back, window 2
        (1, 1, DAY_3_NOON, "makeup_window"),  # two days back, window 1
        (3, 0, DAY_3_NOON, None),  # the same day, window 0
        (2, 0, DAY_3_NOON, "makeup_window"),
        # 16:30 UTC on the 22nd is 00:30 on the 23rd in Shanghai: camp day 4
        (3, 0, datetime(2026, 11, 22, 16, 30, tzinfo=UTC), "makeup_window"),
        (4, None, datetime(2026, 11, 22, 16, 30, tzinfo=UTC), None),
    ],
)
def test_a_checkin_counts_only_for_a_day_that_has_begun_and_within_the_window(
    day: int, window: int | None, at: datetime, expected: str | None
) -> None:
    assert reason(integrity.judge_checkin(checkin(day, at), CAMP, window)) == expected


def test_a_future_day_says_which_day_it_was_made_on() -> None:
    verdict = integrity.judge_checkin(checkin(21, DAY_3_NOON), CAMP, None)
    assert verdict is not None and verdict.dead_lettered
    assert "day 21 made on camp day 3" in verdict.detail


def review(student: str, reviewer: str) -> Review:
    return Review(
        event_id="r",
        occurred_at=DAY_3_NOON,
        camp_id="c",
        student_id=student,
        submission_id="w",
        reviewer_id=reviewer,
        score=95,
        excellent=True,
    )


def test_a_self_review_is_refused_before_its_submission_is_known() -> None:
    assert reason(integrity.judge_review_alone(review("s", "s"))) == "self_review"
    assert integrity.judge_review_alone(review("s", "teacher")) is None


@pytest.mark.parametrize(
    ("author", "expected"), [("s", None), ("someone-else", "not_own_submission")]
)
def test_shares_and_reviews_count_only_for_their_own_students_submission(
    author: str, expected: str | None
) -> None:
    share = Share(
        event_id="x", occurred_at=DAY_3_NOON, camp_id="c", student_id="s", submission_id="w"
    )
    assert reason(integrity.judge_authorship(share, author)) == expected
    assert reason(integrity.judge_authorship(review("s", "teacher"), author)) == expected


def test_only_the_contracts_named_refusals_are_dead_lettered() -> None:
    assert integrity.DEAD_LETTERED == ("future_day", "not_own_submission", "self_review")
    assert not integrity.Verdict("makeup_window", "").dead_lettered
