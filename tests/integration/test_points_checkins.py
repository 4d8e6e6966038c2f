"""The walking skeleton: a check-in on the real broker becomes a ledger row in PostgreSQL and
a gamify.points event, exactly once."""

from __future__ import annotations

import json

import asyncpg

from services.points.config import DEFAULT_RULES_FILE, PointsRules
from shared import topics
from shared.config import load_yaml
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, checkins_processed, metric, scrape, wait_for

SHIPPED = load_yaml(DEFAULT_RULES_FILE, PointsRules).version


async def ledger(settings: Settings) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetch("SELECT * FROM points.ledger ORDER BY id")
    finally:
        await conn.close()


async def test_checkin_pays_ten_and_publishes_balance(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("camp-1"))
    event = checkin("camp-1", "stu-1", day=1)
    await bus.send(topics.CHECKINS, event)

    out = await bus.read(topics.POINTS, until=lambda m: len(m) >= 1)
    assert len(out) == 1
    assert out[0]["student_id"] == "stu-1" and out[0]["camp_id"] == "camp-1"
    assert out[0]["delta"] == 10 and out[0]["balance"] == 10
    assert out[0]["rule_id"] == "checkin" and out[0]["source_event_id"] == event["event_id"]
    assert out[0]["key"] == "stu-1"
    rows = await ledger(settings)
    assert [(r["delta"], r["balance_after"], r["rules_version"]) for r in rows] == [
        (10, 10, SHIPPED)
    ]

    await bus.send(topics.CHECKINS, checkin("camp-1", "stu-1", day=2))
    out = await bus.read(topics.POINTS, until=lambda m: len(m) >= 2)
    assert [m["balance"] for m in out] == [10, 20]


async def test_same_event_delivered_three_times_pays_once(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("camp-1"))
    event = checkin("camp-1", "stu-2", day=3)
    for _ in range(3):
        await bus.send(topics.CHECKINS, event)
    await bus.send(topics.CHECKINS, checkin("camp-1", "stu-2", day=4))  # a marker after them

    out = await bus.read(topics.POINTS, until=lambda m: len(m) >= 2)
    await wait_for(lambda: checkins_processed(points, 4), what="all four messages processed")
    out = await bus.read_quiet(topics.POINTS)
    assert [(m["delta"], m["balance"]) for m in out] == [(10, 10), (10, 20)]
    assert len(await ledger(settings)) == 2
    samples = await scrape(points.http_port)
    checkins = {"topic": topics.CHECKINS}
    assert metric(samples, "gamify_events_processed_total", outcome="duplicate", **checkins) == 2
    assert metric(samples, "gamify_events_processed_total", outcome="applied", **checkins) == 2


async def test_two_checkins_for_the_same_day_pay_once(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("camp-1"))
    await bus.send(topics.CAMPS, camp("camp-2"))
    await bus.send(topics.CHECKINS, checkin("camp-1", "stu-3", day=5))
    await bus.send(topics.CHECKINS, checkin("camp-1", "stu-3", day=5))  # e.g. a make-up twice
    await bus.send(topics.CHECKINS, checkin("camp-2", "stu-3", day=5))  # another camp pays

    await wait_for(lambda: checkins_processed(points, 3), what="three check-ins processed")
    out = await bus.read_quiet(topics.POINTS)
    assert sorted((m["camp_id"], m["balance"]) for m in out) == [("camp-1", 10), ("camp-2", 10)]
    rows = await ledger(settings)
    assert len(rows) == 2
    samples = await scrape(points.http_port)
    assert (
        metric(samples, "gamify_events_processed_total", outcome="applied", topic=topics.CHECKINS)
        == 3
    )
    assert metric(samples, "gamify_points_paid_total", rule="checkin") == 20


async def test_malformed_and_invalid_messages_are_dead_lettered_and_do_not_block(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("camp-1"))
    await bus.send(topics.CHECKINS, b"{not json", key="stu-4", partition=0)
    invalid = checkin("camp-1", "stu-4", day=0)  # days start at 1
    invalid["occurred_at"] = "2026-11-22T20:05:00"  # and a naive timestamp
    await bus.send(topics.CHECKINS, invalid, partition=0)
    good = checkin("camp-1", "stu-4", day=1)
    await bus.send(topics.CHECKINS, good, partition=0)

    out = await bus.read(topics.POINTS, until=lambda m: len(m) >= 1)
    assert [m["source_event_id"] for m in out] == [good["event_id"]]
    dlq = await bus.read(topics.DLQ, until=lambda m: len(m) >= 2)
    assert len(dlq) == 2
    assert {d["service"] for d in dlq} == {"points"}
    assert {d["topic"] for d in dlq} == {topics.CHECKINS}
    assert [d["offset"] for d in sorted(dlq, key=lambda d: d["offset"])] == [0, 1]
    by_offset = {d["offset"]: d for d in dlq}
    assert by_offset[0]["value"] == "{not json" and by_offset[0]["error"].startswith("json:")
    assert by_offset[1]["error"].startswith("schema:")
    assert "day" in by_offset[1]["error"] and "occurred_at" in by_offset[1]["error"]
    assert by_offset[0]["key"] == "stu-4" and by_offset[0]["partition"] == 0
    samples = await scrape(points.http_port)
    assert metric(samples, "gamify_events_dead_lettered_total", reason="json") == 1
    assert metric(samples, "gamify_events_dead_lettered_total", reason="schema") == 1
    assert metric(samples, "gamify_events_consumed_total", topic=topics.CHECKINS) == 3


async def test_a_message_keyed_otherwise_than_the_contract_says_is_dead_lettered(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("camp-k"))
    no_key = checkin("camp-k", "kim", day=1)
    await bus.send(topics.CHECKINS, json.dumps(no_key).encode(), key=None)
    wrong_key = checkin("camp-k", "kim", day=2)
    await bus.send(topics.CHECKINS, wrong_key, key="lee")
    good = checkin("camp-k", "kim", day=3)
    await bus.send(topics.CHECKINS, good)

    out = await bus.read(topics.POINTS, until=lambda m: len(m) >= 1)
    assert [m["source_event_id"] for m in out] == [good["event_id"]]
    dlq = await bus.read(topics.DLQ, until=lambda m: len(m) >= 2)
    assert sorted(d["error"].split(":")[0] for d in dlq) == ["key_mismatch"] * 2
    assert {d["key"] for d in dlq} == {None, "lee"}
    samples = await scrape(points.http_port)
    assert metric(samples, "gamify_events_dead_lettered_total", reason="key_mismatch") == 2


async def test_metrics_report_batches_outbox_and_lag(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("camp-9"))
    for day in range(1, 8):
        await bus.send(topics.CHECKINS, checkin("camp-9", "stu-9", day=day))
    out = await bus.read(topics.POINTS, until=lambda m: len(m) >= 8)
    assert sorted(m["rule_id"] for m in out) == ["checkin"] * 7 + ["streak"]

    async def drained() -> bool:
        s = await scrape(points.http_port)
        return metric(s, "gamify_events_published_total", topic=topics.POINTS) == 8

    await wait_for(drained, what="eight events published")
    samples = await scrape(points.http_port)
    assert metric(samples, "gamify_batch_seconds_count") >= 1
    # every batch's oldest record, timed from its Kafka timestamp: sent moments ago
    batches = metric(samples, "gamify_batch_seconds_count")
    for stage in ("taken", "applied"):
        assert metric(samples, "gamify_event_age_seconds_count", stage=stage) == batches
        age = metric(samples, "gamify_event_age_seconds_sum", stage=stage) / batches
        assert 0 < age < 30, (stage, age)
    assert metric(samples, "gamify_outbox_wait_seconds_count") >= 1
    assert 0 < metric(samples, "gamify_outbox_wait_seconds_sum") < 30
    assert metric(samples, "gamify_outbox_backlog") == 0
    assert metric(samples, "gamify_consumer_lag", topic=topics.CHECKINS) == 0
    assert metric(samples, "gamify_points_rules_version", version=SHIPPED) == 1
    assert not any("student" in dict(labels) for (_, labels) in samples)


async def test_a_checkins_camp_comes_from_the_gates_read_or_else_the_services_table(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    """Points judges a check-in against its camp as the integrity gate read it (no read of its
    own); a camp the gate knew before it kept camps' lengths is read from points' table."""
    await bus.send(topics.CAMPS, camp("camp-g", days=5))
    await bus.send(topics.CAMPS, camp("camp-o"))
    await bus.send(topics.CHECKINS, checkin("camp-g", "stu-g", day=1))
    await bus.send(topics.CHECKINS, checkin("camp-o", "stu-o", day=1))
    await bus.read(topics.POINTS, until=lambda m: len(m) >= 2)
    conn = await asyncpg.connect(settings.database_url)
    try:
        lengths = await conn.fetch("SELECT camp_id, days FROM points.gate_camps ORDER BY 1")
        assert [tuple(r) for r in lengths] == [("camp-g", 5), ("camp-o", 21)]
        await conn.execute("DELETE FROM points.camps WHERE camp_id = 'camp-g'")
        await conn.execute("UPDATE points.gate_camps SET days = NULL WHERE camp_id = 'camp-o'")
    finally:
        await conn.close()
    await bus.send(topics.CHECKINS, checkin("camp-g", "stu-g", day=5))
    await bus.send(topics.CHECKINS, checkin("camp-g", "stu-g", day=6))  # past its 5 days
    await bus.send(topics.CHECKINS, checkin("camp-o", "stu-o", day=2))
    out = await bus.read(topics.POINTS, until=lambda m: len(m) >= 4)
    await wait_for(lambda: checkins_processed(points, 5), what="five check-ins processed")
    paid = sorted((m["camp_id"], m["balance"]) for m in await bus.read_quiet(topics.POINTS))
    assert paid == [("camp-g", 10), ("camp-g", 20), ("camp-o", 10), ("camp-o", 20)], out
    dead = await bus.read(topics.DLQ, until=lambda m: len(m) >= 1)
    assert [d["error"] for d in dead] == ["domain: day 6 is beyond camp camp-g's 5 days"]
