"""Property-based: whatever bytes arrive on an input topic, decoding never raises; what the
contract calls invalid is rejected with a reason and a readable, bounded copy of the value."""

from __future__ import annotations

import hashlib
import json

from aiokafka import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import topics
from shared.inbox import content_digest
from shared.processor import DLQ_VALUE_LIMIT, Received, Rejected, decode
from tests.hostile import invalid_message, strange_event

any_topic = st.sampled_from(topics.INPUT_TOPICS)


def record(topic: str, value: bytes, key: bytes | None = b"k") -> ConsumerRecord:
    return ConsumerRecord(f"p.{topic}", 0, 7, 0, 0, key, value, None, 0, len(value), [])


@settings(max_examples=400)
@given(topic=any_topic, value=st.binary(max_size=2000), key=st.none() | st.binary(max_size=50))
def test_any_bytes_decode_without_raising(topic: str, value: bytes, key: bytes | None) -> None:
    item = decode(record(topic, value, key), "p.", topics.MODELS)
    assert isinstance(item, Received | Rejected)


@settings(max_examples=400)
@given(data=st.data(), topic=any_topic)
def test_invalid_messages_are_rejected_with_reason_and_bounded_value(
    data: st.DataObject, topic: str
) -> None:
    raw = data.draw(invalid_message(topic))
    item = decode(record(topic, raw), "p.", topics.MODELS)
    assert isinstance(item, Rejected)
    assert item.reason in ("json", "schema") and item.error
    assert item.topic == topic and (item.partition, item.offset) == (0, 7)
    assert len(item.value) <= DLQ_VALUE_LIMIT + len("...[truncated]")


@settings(max_examples=300)
@given(data=st.data(), topic=any_topic)
def test_strange_but_valid_events_are_taken_in(data: st.DataObject, topic: str) -> None:
    event = data.draw(strange_event(topic))
    key = str(event[topics.KEY_FIELDS[topic]]).encode()
    item = decode(record(topic, json.dumps(event).encode(), key), "p.", topics.MODELS)
    assert isinstance(item, Received), getattr(item, "error", "")
    assert item.event.event_id == event["event_id"]


@settings(max_examples=300)
@given(data=st.data(), topic=any_topic)
def test_decoding_and_the_inbox_digest_are_the_models_own(data: st.DataObject, topic: str) -> None:
    """The hot path calls the model's validator and serializer directly; they must give what
    model_validate_json and model_dump_json give: the inbox keeps digests across versions, and
    a changed digest would turn every redelivery of an earlier event into a conflict."""
    event = data.draw(strange_event(topic))
    raw = json.dumps(event).encode()
    item = decode(
        record(topic, raw, str(event[topics.KEY_FIELDS[topic]]).encode()), "p.", topics.MODELS
    )
    assert isinstance(item, Received)
    assert item.event == topics.MODELS[topic].model_validate_json(raw)
    dumped = item.event.model_dump_json().encode()
    assert content_digest(item.event) == hashlib.blake2b(dumped, digest_size=16).digest()


@settings(max_examples=200)
@given(data=st.data(), topic=any_topic, other=st.none() | st.binary(max_size=20))
def test_a_valid_event_under_another_key_is_a_key_mismatch(
    data: st.DataObject, topic: str, other: bytes | None
) -> None:
    event = data.draw(strange_event(topic))
    own = str(event[topics.KEY_FIELDS[topic]])
    if other is not None and other.decode("utf-8", "replace") == own:
        other = other + b"x"
    item = decode(record(topic, json.dumps(event).encode(), other), "p.", topics.MODELS)
    assert isinstance(item, Rejected) and item.reason == "key_mismatch"
    assert topics.KEY_FIELDS[topic] in item.error


def test_the_key_field_of_every_input_topic_is_the_contracts() -> None:
    assert {
        **{t: "student_id" for t in topics.INPUT_TOPICS},
        topics.CAMPS: "camp_id",
        topics.VOTES: "camp_id",
    } == topics.KEY_FIELDS
