"""`gamify audit`: the oracle of "at-least-once in, effectively-once out".

It reads every input topic from the beginning (the recorded input log), recomputes what every
student should hold under the rules files in force, and compares that with the ledger, the
badges, the nudges, gifts and contest results in the database and on the output topics. Every
difference is printed; any difference makes the command exit 1.

What is compared:
- points: every ledger entry the inputs call for is there once with its amount, and nothing
  else (shares may be refused by the daily cap; a submission may pay any of its reports' tiers;
  a redemption is deducted exactly when it was answered `accepted`); balances equal the sum of
  the ledger and are never negative; `gamify.points` carries each ledger entry once;
- redemptions: every request answered exactly once;
- badges: exactly the badges the facts earn, each published once on `gamify.badges`;
- nudges: each sent nudge published once, at most one reminder per student and day, one
  welcome-back gift per lapse, and a welcome-back for exactly the returns from a lapse that
  the check-ins show (recomputed from their report times);
- contests: each settled week published once, with the ranking the database holds;
- dead letters: every input that breaks the contract is on `gamify.dlq`, once per service
  that consumes its topic.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from gamify.launcher import SERVICES, service_inputs
from services.badges.config import DEFAULT_BADGES_FILE, BadgeBook
from services.points.config import DEFAULT_RULES_FILE, PointsRules
from shared import integrity, topics
from shared.config import load_yaml
from shared.events import (
    Camp,
    Event,
    Leave,
    latest_camps,
)
from shared.inbox import content_digest
from shared.kafka_clients import running
from shared.leave import leave_days

Key = tuple[str, str, str, str]  # camp, student, rule, cause


@dataclass(frozen=True, slots=True)
class Difference:
    area: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.area:<10} {self.subject}: {self.detail}"


@dataclass
class AuditResult:
    inputs: int = 0
    invalid_inputs: int = 0
    outputs: int = 0
    ledger_rows: int = 0
    badges: int = 0
    differences: list[Difference] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"audited {self.inputs} input events ({self.invalid_inputs} invalid), "
            f"{self.outputs} output events, {self.ledger_rows} ledger entries, "
            f"{self.badges} badges: {len(self.differences)} differences"
        )


async def read_all(bootstrap: str, name: str) -> list[ConsumerRecord]:
    """Every record of a topic, from the beginning to its end as of now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    async with running(consumer):
        parts = await topics.partitions_of(bootstrap, name)
        if not parts:
            return []
        tps = [TopicPartition(name, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*tps, timeout_ms=500, max_records=5000)
            for rs in batch.values():
                records.extend(rs)
        return records


class AuditBase:
    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        database_url: str,
        rules_file: Path | None = None,
        badges_file: Path | None = None,
        camp: str | None = None,
        makeup_window_days: int | None = None,
        leave_max_days: int | None = None,
    ) -> None:
        self.window = makeup_window_days
        self.leave_cap = leave_max_days
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.database_url = database_url
        self.rules = load_yaml(rules_file or DEFAULT_RULES_FILE, PointsRules).model
        self.book = load_yaml(badges_file or DEFAULT_BADGES_FILE, BadgeBook).model
        self.camp = camp
        self.result = AuditResult()
        self.events: dict[str, list[Event]] = defaultdict(list)

    def differ(self, area: str, subject: str, detail: str) -> None:
        self.result.differences.append(Difference(area, subject, detail))

    def _mine(self, camp_id: str) -> bool:
        return self.camp is None or camp_id == self.camp

    def _latest_camps(self) -> list[Camp]:
        return latest_camps(c for c in self.events[topics.CAMPS] if isinstance(c, Camp))

    def _leave(self) -> dict[tuple[str, str], frozenset[int]]:
        """Each student's days of leave, as the services count them."""
        spans: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        for x in self.events[topics.LEAVES]:
            assert isinstance(x, Leave)
            spans[(x.camp_id, x.student_id)].append((x.from_day, x.to_day))
        return defaultdict(frozenset, {p: leave_days(s, self.leave_cap) for p, s in spans.items()})

    def _apply_integrity(self) -> None:
        """Keep only the check-ins, shares and reviews that count (shared.integrity); note
        those every service taking them must have dead-lettered."""
        judged = (topics.CHECKINS, topics.SHARES, topics.REVIEWS)
        fates = integrity.judge_log(
            self.events[topics.CAMPS],  # type: ignore[arg-type]
            self.events[topics.SUBMISSIONS],  # type: ignore[arg-type]
            [e for t in judged for e in self.events[t]],  # type: ignore[misc]
            self.window,
        )
        self._refused: list[tuple[str, str, str]] = []
        for topic in judged:
            kept = []
            for e in self.events[topic]:
                fate = fates.get(e.event_id, integrity.Verdict("waiting", ""))
                if fate is None:
                    kept.append(e)
                elif fate.dead_lettered:
                    self._refused.append((topic, e.event_id, fate.reason))
            self.events[topic] = kept

    def _integrity_letters(self, letters: list[dict[str, Any]]) -> None:
        lettered = Counter(
            (d["service"], d["topic"], _event_id_of(d["value"]), d["error"].split(":")[0])
            for d in letters
        )
        for service, inputs in ((s, service_inputs(s)) for s in SERVICES):
            for topic, event_id, reason in self._refused:
                n = lettered[(service, topic, event_id, reason)]
                if topic in inputs and n != 1:
                    self.differ(
                        "dlq", f"{service} {topic} {event_id}", f"{reason}: dead-lettered {n} times"
                    )

    # ---- reading ----

    async def _read_inputs(self) -> None:
        self._invalid: list[tuple[str, int, int]] = []
        seen: dict[tuple[str, str], bytes] = {}
        for topic in topics.INPUT_TOPICS:
            model = topics.MODELS[topic]
            for r in await read_all(self.bootstrap, topics.physical(self.prefix, topic)):
                self.result.inputs += 1
                try:
                    event = model.model_validate_json(r.value or b"")
                except ValidationError:
                    self.result.invalid_inputs += 1
                    self._invalid.append((topic, r.partition, r.offset))
                    continue
                digest, first = content_digest(event), seen.get((topic, event.event_id))
                if first is not None and first != digest:  # another event reusing the id
                    self.result.invalid_inputs += 1  # dead-lettered (conflict)
                    self._invalid.append((topic, r.partition, r.offset))
                    continue
                if first is not None:
                    continue  # a redelivery: the same event
                seen[(topic, event.event_id)] = digest
                if self._mine(str(getattr(event, "camp_id", ""))):
                    self.events[topic].append(event)

    async def _read_output(self, topic: str) -> list[dict[str, Any]]:
        """Distinct output events (by event_id); a second, different event id for the same
        cause is what the checks below look for."""
        out: dict[str, dict[str, Any]] = {}
        for r in await read_all(self.bootstrap, topics.physical(self.prefix, topic)):
            value = json.loads(r.value)
            if topic == topics.DLQ or self._mine(str(value.get("camp_id", ""))):
                out.setdefault(value["event_id"], value)
        return list(out.values())

    # ---- dead letters ----

    def _dead_letters(self, letters: list[dict[str, Any]]) -> None:
        lettered = Counter((d["service"], d["topic"], d["partition"], d["offset"]) for d in letters)
        for service, inputs in ((s, service_inputs(s)) for s in SERVICES):
            for topic, partition, offset in self._invalid:
                if topic in inputs and lettered[(service, topic, partition, offset)] != 1:
                    self.differ(
                        "dlq",
                        f"{service} {topic}[{partition}]@{offset}",
                        f"dead-lettered {lettered[(service, topic, partition, offset)]} times",
                    )


def _event_id_of(value: str) -> str | None:
    try:
        return str(json.loads(value).get("event_id"))
    except (ValueError, AttributeError):
        return None


async def _rows(conn: asyncpg.Connection, sql: str, *args: object) -> list[asyncpg.Record]:
    try:
        return list(await conn.fetch(sql, *args))
    except asyncpg.UndefinedTableError:
        return []
