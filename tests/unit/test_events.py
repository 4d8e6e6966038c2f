"""The contract's models accept exactly what the contract allows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shared import topics

BASE = {"event_id": "e-1", "occurred_at": "2026-11-22T08:05:00+08:00"}

VALID: dict[str, dict[str, Any]] = {
    topics.CAMPS: {
        "camp_id": "c",
        "title": "21天写作营",
        "starts_on": "2026-11-20",
        "days": 21,
        "timezone": "Asia/Shanghai",
        "lessons": 12,
        "cohort_reminder_time": "20:00",
    },
    topics.ENROLLMENTS: {"camp_id": "c", "student_id": "s", "display_name": "小明"},
    topics.PREFERENCES: {
        "camp_id": "c",
        "student_id": "s",
        "reminder_time": None,
        "opt_out": False,
    },
    topics.CHECKINS: {"camp_id": "c", "student_id": "s", "day": 1},
    topics.LESSONS: {
        "camp_id": "c",
        "student_id": "s",
        "lesson_id": "l1",
        "watched_seconds": 0,
        "duration_seconds": 600,
    },
    topics.SUBMISSIONS: {
        "camp_id": "c",
        "student_id": "s",
        "submission_id": "w1",
        "assignment_id": "a1",
        "tier": "practice",
        "title": "t",
        "url": "https://x",
        "contest_entry": True,
    },
    topics.REVIEWS: {
        "camp_id": "c",
        "student_id": "s",
        "submission_id": "w1",
        "reviewer_id": "r",
        "score": 100,
        "excellent": True,
    },
    topics.SHARES: {"camp_id": "c", "student_id": "s", "submission_id": "w1"},
    topics.VOTES: {"camp_id": "c", "voter_id": "v", "submission_id": "w1"},
    topics.REDEMPTIONS: {
        "camp_id": "c",
        "student_id": "s",
        "request_id": "q",
        "item_id": "i",
        "cost": 1,
    },
}


def parse(topic: str, body: dict[str, Any]) -> object:
    return topics.MODELS[topic].model_validate_json(json.dumps(body))


@pytest.mark.parametrize("topic", sorted(VALID))
def test_every_input_topic_accepts_a_contract_example(topic: str) -> None:
    event = parse(topic, {**BASE, **VALID[topic]})
    assert event.event_id == "e-1"  # type: ignore[attr-defined]


@pytest.mark.parametrize("topic", sorted(VALID))
def test_unknown_extra_fields_are_ignored(topic: str) -> None:
    event = parse(topic, {**BASE, **VALID[topic], "new_field_2027": {"x": 1}})
    assert not hasattr(event, "new_field_2027")


@pytest.mark.parametrize("topic", sorted(VALID))
@pytest.mark.parametrize("field", ["event_id", "occurred_at"])
def test_every_topic_requires_event_id_and_occurred_at(topic: str, field: str) -> None:
    body = {**BASE, **VALID[topic]}
    del body[field]
    with pytest.raises(ValidationError):
        parse(topic, body)


@pytest.mark.parametrize("topic", sorted(VALID))
def test_every_field_of_every_topic_is_required(topic: str) -> None:
    for field in VALID[topic]:
        body = {**BASE, **VALID[topic]}
        del body[field]
        with pytest.raises(ValidationError):
            parse(topic, body)


INVALID = [
    (topics.CHECKINS, {"occurred_at": "2026-11-22T08:05:00"}, "naive timestamp"),
    (topics.CHECKINS, {"occurred_at": "yesterday"}, "not a timestamp"),
    (topics.CHECKINS, {"event_id": ""}, "empty event_id"),
    (topics.CHECKINS, {"event_id": "x" * 129}, "event_id over 128"),
    (topics.CHECKINS, {"day": 0}, "day below 1"),
    (topics.CHECKINS, {"day": 367}, "day above 366"),
    (topics.CHECKINS, {"day": "3"}, "day as a string"),
    (topics.CHECKINS, {"day": 3.5}, "day as a float"),
    (topics.CHECKINS, {"student_id": 42}, "student_id as a number"),
    (topics.CHECKINS, {"camp_id": None}, "camp_id null"),
    (topics.CAMPS, {"days": 0}, "camp of 0 days"),
    (topics.CAMPS, {"days": 367}, "camp over 366 days"),
    (topics.CAMPS, {"timezone": "Mars/Olympus"}, "unknown timezone"),
    (topics.CAMPS, {"cohort_reminder_time": "24:00"}, "hour 24"),
    (topics.CAMPS, {"cohort_reminder_time": "8:00"}, "one-digit hour"),
    (topics.CAMPS, {"starts_on": "2026-02-30"}, "impossible date"),
    (topics.CAMPS, {"lessons": -1}, "negative lessons"),
    (topics.PREFERENCES, {"opt_out": 1}, "opt_out as a number"),
    (topics.PREFERENCES, {"reminder_time": "20:60"}, "minute 60"),
    (topics.LESSONS, {"duration_seconds": 0}, "zero duration"),
    (topics.LESSONS, {"watched_seconds": -5}, "negative watch time"),
    (topics.SUBMISSIONS, {"tier": "expert"}, "unknown tier"),
    (topics.SUBMISSIONS, {"contest_entry": "true"}, "bool as a string"),
    (topics.REVIEWS, {"score": 101}, "score above 100"),
    (topics.REVIEWS, {"score": -1}, "score below 0"),
    (topics.REDEMPTIONS, {"cost": 0}, "zero cost"),
    (topics.REDEMPTIONS, {"cost": -10}, "negative cost"),
]


@pytest.mark.parametrize(("topic", "change", "why"), INVALID, ids=[i[2] for i in INVALID])
def test_invalid_values_are_rejected(topic: str, change: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError):
        parse(topic, {**BASE, **VALID[topic], **change})


def test_timestamps_keep_their_offset() -> None:
    event = parse(topics.CHECKINS, {**BASE, **VALID[topics.CHECKINS]})
    assert event.occurred_at.utcoffset().total_seconds() == 8 * 3600  # type: ignore[attr-defined]


def test_a_json_array_is_not_an_event() -> None:
    with pytest.raises(ValidationError):
        topics.MODELS[topics.CHECKINS].model_validate_json(b"[1, 2]")
