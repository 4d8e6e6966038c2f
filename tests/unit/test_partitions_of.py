"""Asking a broker for a topic's partitions, or making topics, outlasts a broker that has
just come back (its metadata names no broker for a moment), and still reports at once one
that cannot be reached. The admin client is scripted: the real moment (a paused Apache Kafka
resumed) is the fault suite's, and comes too rarely to be the only proof."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, UnknownError

from shared import topics

DESCRIBED = [
    {
        "topic": "camp.checkins",
        "error_code": 0,
        "partitions": [{"partition": 1}, {"partition": 0}],
    }
]


class ScriptedAdmin:
    """Each client made answers with the next step of `script`: an error raised by
    `start` ("start", error), by `describe_topics` or `list_topics` ("ask", error), or an
    answer."""

    script: ClassVar[list[Any]] = []
    made = 0
    closed = 0
    created: ClassVar[list[str]] = []

    def __init__(self, **_: object) -> None:
        self.step = ScriptedAdmin.script[ScriptedAdmin.made]
        ScriptedAdmin.made += 1

    async def start(self) -> None:
        if isinstance(self.step, tuple) and self.step[0] == "start":
            raise self.step[1]

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        if isinstance(self.step, tuple):
            raise self.step[1]
        return self.step  # type: ignore[no-any-return]

    async def list_topics(self) -> list[str]:
        if isinstance(self.step, tuple):
            raise self.step[1]
        return ["camp.checkins"]

    async def create_topics(self, new: list[Any]) -> None:
        ScriptedAdmin.created += [t.name for t in new]

    async def close(self) -> None:
        ScriptedAdmin.closed += 1


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> type[ScriptedAdmin]:
    ScriptedAdmin.made = ScriptedAdmin.closed = 0
    ScriptedAdmin.created = []
    monkeypatch.setattr(topics, "AIOKafkaAdminClient", ScriptedAdmin)
    monkeypatch.setattr(topics, "_RETRY_PAUSE_S", 0.001, raising=False)
    return ScriptedAdmin


async def test_metadata_without_brokers_is_asked_again(admin: type[ScriptedAdmin]) -> None:
    gone = NodeNotReadyError("Attempt to send a request to node which is not ready (node id None)")
    admin.script = [("ask", gone), ("ask", gone), DESCRIBED]
    assert await topics.partitions_of("b:9092", "camp.checkins") == [0, 1]
    assert admin.made == admin.closed == 3


async def test_a_broker_that_stays_without_brokers_is_reported_after_the_wait(
    admin: type[ScriptedAdmin], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(topics, "_COMEBACK_S", 0.05, raising=False)
    admin.script = [("ask", NodeNotReadyError("node id None"))] * 10_000
    with pytest.raises(NodeNotReadyError):
        await topics.partitions_of("b:9092", "camp.checkins")
    assert 1 < admin.made < 10_000 and admin.closed == admin.made


@pytest.mark.parametrize(
    "step",
    [
        ("start", KafkaConnectionError("Unable to bootstrap from b:9092")),
        ("ask", UnknownError()),
    ],
    ids=["unreachable", "not retriable"],
)
async def test_an_unreachable_broker_or_a_lasting_error_is_reported_at_once(
    admin: type[ScriptedAdmin], step: tuple[str, Exception]
) -> None:
    admin.script = [step, DESCRIBED]
    with pytest.raises(type(step[1])):
        await topics.partitions_of("b:9092", "camp.checkins")
    assert admin.made == admin.closed == 1


async def test_topics_are_created_by_a_broker_that_has_just_come_back(
    admin: type[ScriptedAdmin], monkeypatch: pytest.MonkeyPatch
) -> None:
    awaited: list[Any] = []

    async def await_leaders(bootstrap: str, made: list[Any], *_: Any, **__: Any) -> None:
        awaited.extend(made)

    monkeypatch.setattr(topics, "_await_leaders", await_leaders)
    admin.script = [("ask", NodeNotReadyError("node id None")), "answers"]
    await topics.ensure_topics("b:9092", ["camp.checkins", "camp.votes"], partitions=2)
    assert admin.created == ["camp.votes"] and admin.made == admin.closed == 2
    assert [(tp.topic, tp.partition) for tp in awaited] == [("camp.votes", 0), ("camp.votes", 1)]
