"""docs/asyncapi.yaml is the contract in the repository: generated from the event models, it
must match them (CI also validates it with the AsyncAPI project's parser)."""

from __future__ import annotations

import yaml

from gamify import asyncapi
from shared import topics


def test_the_document_in_the_repository_matches_the_event_models() -> None:
    assert asyncapi.DOCUMENT.read_text(encoding="utf-8") == asyncapi.render(), (
        "docs/asyncapi.yaml is out of date: run `gamify asyncapi`"
    )


def test_every_topic_is_a_channel_with_its_key_and_payload() -> None:
    doc = yaml.safe_load(asyncapi.render())
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(topics.ALL)
    checkin = doc["components"]["messages"]["CheckIn"]
    assert "student_id" in checkin["bindings"]["kafka"]["key"]["description"]
    schema = doc["components"]["schemas"]["CheckIn"]
    assert set(schema["required"]) == {"event_id", "occurred_at", "camp_id", "student_id", "day"}
    assert schema["properties"]["day"]["minimum"] == 1
    actions = {o["action"] for o in doc["operations"].values()}
    assert actions == {"send", "receive"}
