from __future__ import annotations

import json

from aiokafka import ConsumerRecord

from shared import topics
from shared.processor import DLQ_VALUE_LIMIT, Received, Rejected, decode


def record(value: bytes, topic: str = "p." + topics.CHECKINS) -> ConsumerRecord:
    return ConsumerRecord(topic, 2, 41, 0, 0, b"stu", value, None, len(value), len(value), [])


GOOD = {
    "event_id": "e",
    "occurred_at": "2026-11-22T08:05:00+08:00",
    "camp_id": "c",
    "student_id": "stu",
    "day": 1,
}


def test_a_valid_record_decodes_with_its_logical_topic_and_position() -> None:
    item = decode(record(json.dumps(GOOD).encode()), "p.", topics.MODELS)
    assert isinstance(item, Received)
    assert (item.topic, item.partition, item.offset, item.key) == (topics.CHECKINS, 2, 41, "stu")


def test_broken_json_is_rejected_as_json_with_the_raw_text() -> None:
    item = decode(record(b"{oops"), "p.", topics.MODELS)
    assert isinstance(item, Rejected)
    assert (item.reason, item.value) == ("json", "{oops")


def test_a_schema_violation_is_rejected_as_schema_naming_the_field() -> None:
    item = decode(record(json.dumps({**GOOD, "day": -1}).encode()), "p.", topics.MODELS)
    assert isinstance(item, Rejected)
    assert item.reason == "schema" and item.error.startswith("day:")


def test_undecodable_bytes_and_huge_values_are_kept_readable_and_bounded() -> None:
    item = decode(record(b"\xff\xfe" + b"x" * (DLQ_VALUE_LIMIT * 2)), "p.", topics.MODELS)
    assert isinstance(item, Rejected)
    assert len(item.value) < DLQ_VALUE_LIMIT + 100 and item.value.endswith("[truncated]")
