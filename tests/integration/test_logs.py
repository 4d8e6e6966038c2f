"""Structured logs: JSON lines on request, and every line about a handled event carries its
event_id, topic, partition and offset (here from a real service process)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from shared import topics
from shared.logs import ContextFilter, JsonFormatter, event_context
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, processed, wait_for
from tests.services import ServiceProcess


def test_a_line_inside_an_event_context_carries_it_in_both_formats() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter("points"))
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with event_context(event_id="e-1", topic="camp.checkins", partition=2, offset=41):
            logger.info("paid")
        logger.info("outside")
        handler.setFormatter(logging.Formatter("%(message)s%(context)s"))
        with event_context(event_id="e-2", topic="camp.votes", partition=0, offset=7):
            logger.info("text")
    finally:
        logger.removeHandler(handler)
    first, second, third = out.getvalue().splitlines()
    line = json.loads(first)
    assert line["message"] == "paid" and line["service"] == "points"
    assert (line["event_id"], line["topic"], line["partition"], line["offset"]) == (
        "e-1",
        "camp.checkins",
        2,
        41,
    )
    assert "event_id" not in json.loads(second)
    assert third == "text [event_id=e-2 topic=camp.votes partition=0 offset=7]"


async def test_a_service_logs_each_event_with_its_place_on_the_bus(
    settings: Settings, bus: Bus, tmp_path: Path
) -> None:
    log_path = tmp_path / "points.log"
    service = ServiceProcess(
        "points", settings, log_path, GAMIFY_LOG_FORMAT="json", GAMIFY_LOG_LEVEL="DEBUG"
    ).start()
    try:
        await service.ready()
        event = checkin("lg", "stu", 1)
        await bus.send(topics.CAMPS, camp("lg"))
        await bus.send(topics.CHECKINS, event)
        await bus.send(topics.CHECKINS, b'{"day": "not a day"}', key="stu")
        await wait_for(lambda: processed(settings.database_url, "points", [event["event_id"]]))

        def lines() -> list[dict[str, object]]:
            text = log_path.read_text(encoding="utf-8")
            return [json.loads(x) for x in text.splitlines() if x.startswith("{")]

        async def logged() -> bool:
            return any(x["message"].startswith("dead-lettered") for x in lines())  # type: ignore[union-attr]

        await wait_for(logged, what="the dead letter logged")
    finally:
        service.stop()
    every = lines()
    applied = [x for x in every if x.get("event_id") == event["event_id"]]
    assert applied and applied[0]["message"] == "event applied"
    assert applied[0]["topic"] == topics.CHECKINS
    assert isinstance(applied[0]["partition"], int) and isinstance(applied[0]["offset"], int)
    [dead] = [x for x in every if str(x["message"]).startswith("dead-lettered")]
    assert dead["topic"] == topics.CHECKINS and dead["level"] == "WARNING"
    assert isinstance(dead["offset"], int) and "event_id" not in dead  # it had none to read
    assert all(isinstance(x, dict) for x in every) and len(every) >= 3
