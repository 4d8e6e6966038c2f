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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError

from services.badges import rules as badge_rules
from services.badges.config import DEFAULT_BADGES_FILE, BadgeBook
from services.nudges import rules as nudge_rules
from services.points import rules as point_rules
from services.points.config import PointsRules
from shared import integrity, topics
from shared.config import load_yaml
from shared.events import (
    Camp,
    CheckIn,
    Event,
    Gift,
    LessonProgress,
    RedemptionRequest,
    Review,
    Share,
    Submission,
)
from shared.processor import content_digest

DEFAULT_RULES_FILE = Path(__file__).resolve().parents[1] / "services/points/rules.yaml"
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


def _services_of() -> dict[str, list[str]]:
    from gamify.launcher import SERVICES, service_inputs

    return {name: service_inputs(name) for name in SERVICES}


async def read_all(bootstrap: str, name: str) -> list[ConsumerRecord]:
    """Every record of a topic, from the beginning to its end as of now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
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
    finally:
        await consumer.stop()


class Auditor:
    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        database_url: str,
        rules_file: Path | None = None,
        badges_file: Path | None = None,
        camp: str | None = None,
        makeup_window_days: int | None = None,
    ) -> None:
        self.window = makeup_window_days
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

    async def run(self) -> AuditResult:
        await self._read_inputs()
        self._apply_integrity()
        outputs = {t: await self._read_output(t) for t in topics.OUTPUT_TOPICS}
        self.result.outputs = sum(len(v) for v in outputs.values())
        conn = await asyncpg.connect(self.database_url)
        try:
            await self._points(conn, outputs)
            await self._badges(conn, outputs)
            await self._nudges(conn, outputs)
            await self._contests(conn, outputs)
        finally:
            await conn.close()
        self._dead_letters(outputs[topics.DLQ])
        self._integrity_letters(outputs[topics.DLQ])
        return self.result

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
        for service, inputs in _services_of().items():
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

    # ---- points ----

    def _camps(self) -> dict[str, point_rules.CampInfo]:
        latest: dict[str, Camp] = {}
        for c in self.events[topics.CAMPS]:
            assert isinstance(c, Camp)
            if c.camp_id not in latest or c.occurred_at > latest[c.camp_id].occurred_at:
                latest[c.camp_id] = c
        return {
            k: point_rules.CampInfo(k, c.starts_on, c.days, c.timezone) for k, c in latest.items()
        }

    def _counted_days(self) -> dict[tuple[str, str], dict[int, CheckIn]]:
        camps = self._camps()
        days: dict[tuple[str, str], dict[int, CheckIn]] = defaultdict(dict)
        for c in self.events[topics.CHECKINS]:
            assert isinstance(c, CheckIn)
            camp = camps.get(c.camp_id)
            if camp is None:
                continue
            if point_rules.judge_checkin(c, camp) is None:
                days[(c.camp_id, c.student_id)].setdefault(c.day, c)
        return days

    def _expected_points(
        self, outputs: dict[str, list[dict[str, Any]]]
    ) -> tuple[dict[Key, set[int]], dict[Key, set[int]]]:
        """(required, optional) entries: key -> the amounts it may have."""
        required: dict[Key, set[int]] = defaultdict(set)
        optional: dict[Key, set[int]] = defaultdict(set)

        def need(awards: Iterable[point_rules.Award], into: dict[Key, set[int]] = required) -> None:
            for a in awards:
                into[(a.camp_id, a.student_id, a.rule_id, a.cause)].add(a.delta)

        rules_for = self.rules.for_camp
        for (camp_id, _student), days in self._counted_days().items():
            rules = rules_for(camp_id)
            for checkin in days.values():
                need(point_rules.checkin_awards(checkin, rules))
            any_checkin = next(iter(days.values()))
            need(point_rules.streak_awards(camp_id, _student, days, rules, any_checkin))
        for s in self.events[topics.SUBMISSIONS]:
            assert isinstance(s, Submission)
            need(point_rules.submission_awards(s, rules_for(s.camp_id)))
        for r in self.events[topics.REVIEWS]:
            assert isinstance(r, Review)
            need(point_rules.review_awards(r, rules_for(r.camp_id)))
        camps = self._camps()
        for sh in self.events[topics.SHARES]:
            assert isinstance(sh, Share)
            if sh.camp_id in camps:
                awards, _ = point_rules.share_awards(
                    [(sh, camps[sh.camp_id])], set(), {}, rules_for
                )
                need(awards, optional)  # the daily cap may refuse it
        from shared.events import ContestResult

        for value in outputs[topics.CONTESTS]:
            result = ContestResult.model_validate_json(json.dumps(value))
            need(point_rules.contest_awards(result, rules_for(result.camp_id)))
        for value in outputs[topics.GIFTS]:
            gift = Gift.model_validate_json(json.dumps(value))
            need(point_rules.gift_awards(gift, rules_for(gift.camp_id)))
        # redemptions: as answered, once per request
        requests = {
            (r.camp_id, r.request_id): r
            for r in self.events[topics.REDEMPTIONS]
            if isinstance(r, RedemptionRequest)
        }
        answers: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for a in outputs[topics.REDEMPTION_RESULTS]:
            answers[(a["camp_id"], a["request_id"])].append(a)
        for key, request in sorted(requests.items()):
            given = answers.get(key, [])
            if len(given) != 1:
                self.differ("redemption", f"{key[0]}/{key[1]}", f"answered {len(given)} times")
                continue
            if given[0]["status"] == "accepted":
                required[(key[0], request.student_id, "redemption", f"request:{key[1]}")].add(
                    -request.cost
                )
        for key in sorted(set(answers) - set(requests)):
            self.differ("redemption", f"{key[0]}/{key[1]}", "answered, but never requested")
        return required, optional

    async def _points(
        self, conn: asyncpg.Connection, outputs: dict[str, list[dict[str, Any]]]
    ) -> None:
        required, optional = self._expected_points(outputs)
        rows = await _rows(
            conn,
            "SELECT camp_id, student_id, rule_id, cause, delta, camp_day FROM points.ledger"
            " WHERE $1::text IS NULL OR camp_id = $1",
            self.camp,
        )
        self.result.ledger_rows = len(rows)
        ledger = {(r["camp_id"], r["student_id"], r["rule_id"], r["cause"]): r for r in rows}
        for key, amounts in sorted(required.items()):
            row = ledger.get(key)
            if row is None:
                self.differ("points", "/".join(key), f"missing (expected {sorted(amounts)})")
            elif row["delta"] not in amounts:
                self.differ(
                    "points", "/".join(key), f"paid {row['delta']}, expected {sorted(amounts)}"
                )
        for key, row in sorted(ledger.items()):
            if key in required:
                continue
            if key in optional and row["delta"] in optional[key]:
                continue
            self.differ("points", "/".join(key), f"paid {row['delta']} without a cause")
        share_days: Counter[tuple[str, str, int]] = Counter()
        for key, row in ledger.items():
            if key[2] == "share" and row["camp_day"] is not None:
                share_days[(key[0], key[1], row["camp_day"])] += row["delta"]
        for (camp_id, student, day), total in sorted(share_days.items()):
            cap = self.rules.for_camp(camp_id).share.daily_cap
            if cap is not None and total > cap:
                self.differ(
                    "points", f"{camp_id}/{student}/share/day:{day}", f"{total} > cap {cap}"
                )
        sums: Counter[tuple[str, str]] = Counter()
        for key, row in ledger.items():
            sums[(key[0], key[1])] += row["delta"]
        balances = {
            (r["camp_id"], r["student_id"]): r["balance"]
            for r in await _rows(
                conn,
                "SELECT camp_id, student_id, balance FROM points.balances"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        }
        for pair in sorted(set(sums) | set(balances)):
            if sums[pair] < 0:
                self.differ("balance", "/".join(pair), f"the ledger sums to {sums[pair]} < 0")
            if balances.get(pair, 0) != sums[pair]:
                self.differ(
                    "balance",
                    "/".join(pair),
                    f"balance {balances.get(pair)} != ledger {sums[pair]}",
                )
        published = Counter(
            (p["camp_id"], p["student_id"], p["rule_id"], p["delta"])
            for p in outputs[topics.POINTS]
        )
        recorded = Counter((k[0], k[1], k[2], r["delta"]) for k, r in ledger.items())
        for item in sorted(set(published) | set(recorded)):
            if published[item] != recorded[item]:
                self.differ(
                    "points-out",
                    "/".join(map(str, item)),
                    f"{published[item]} published, {recorded[item]} in the ledger",
                )

    # ---- badges ----

    async def _badges(
        self, conn: asyncpg.Connection, outputs: dict[str, list[dict[str, Any]]]
    ) -> None:
        camps = {
            k: badge_rules.CampFacts(k, c.days, c.lessons)
            for k, c in ((c.camp_id, c) for c in self._latest_camps())
        }
        days: dict[tuple[str, str], set[int]] = defaultdict(set)
        for c in self.events[topics.CHECKINS]:
            assert isinstance(c, CheckIn)
            days[(c.camp_id, c.student_id)].add(c.day)
        excellent: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in self.events[topics.REVIEWS]:
            assert isinstance(r, Review)
            if r.excellent:
                excellent[(r.camp_id, r.student_id)].add(r.submission_id)
        ratios: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for lesson in self.events[topics.LESSONS]:
            assert isinstance(lesson, LessonProgress)
            got = ratios[(lesson.camp_id, lesson.student_id)]
            ratio = badge_rules.watch_ratio(lesson.watched_seconds, lesson.duration_seconds)
            got[lesson.lesson_id] = max(got.get(lesson.lesson_id, 0.0), ratio)
        expected: set[tuple[str, str, str]] = set()
        for pair in set(days) | set(excellent) | set(ratios):
            facts = badge_rules.StudentFacts(
                frozenset(days[pair]), frozenset(excellent[pair]), ratios[pair]
            )
            for status in badge_rules.statuses(self.book.badges, facts, camps.get(pair[0])):
                if status.earned:
                    expected.add((pair[0], pair[1], status.badge_id))
        held = {
            (r["camp_id"], r["student_id"], r["badge_id"])
            for r in await _rows(
                conn,
                "SELECT camp_id, student_id, badge_id FROM badges.awards"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        }
        self.result.badges = len(held)
        for item in sorted(expected - held):
            self.differ("badges", "/".join(item), "earned but not awarded")
        for item in sorted(held - expected):
            self.differ("badges", "/".join(item), "awarded but not earned")
        published = Counter(
            (b["camp_id"], b["student_id"], b["badge_id"]) for b in outputs[topics.BADGES]
        )
        for item in sorted(held | set(published)):
            if published[item] != (1 if item in held else 0):
                self.differ("badges-out", "/".join(item), f"published {published[item]} times")

    def _latest_camps(self) -> list[Camp]:
        latest: dict[str, Camp] = {}
        for c in self.events[topics.CAMPS]:
            assert isinstance(c, Camp)
            if c.camp_id not in latest or c.occurred_at > latest[c.camp_id].occurred_at:
                latest[c.camp_id] = c
        return list(latest.values())

    # ---- nudges ----

    async def _nudges(
        self, conn: asyncpg.Connection, outputs: dict[str, list[dict[str, Any]]]
    ) -> None:
        sent = Counter(
            r["kind"]
            for r in await _rows(
                conn,
                "SELECT kind FROM nudges.nudges WHERE status = 'sent'"
                " AND ($1::text IS NULL OR camp_id = $1)",
                self.camp,
            )
        )
        published = Counter(n["kind"] for n in outputs[topics.NUDGES])
        for kind in sorted(set(sent) | set(published)):
            if sent[kind] != published[kind]:
                self.differ("nudges-out", kind, f"{sent[kind]} sent, {published[kind]} published")
        zones = {c.camp_id: c.timezone for c in self._latest_camps()}
        per_day: Counter[tuple[str, str, str]] = Counter()
        for n in outputs[topics.NUDGES]:
            if n["kind"] == "reminder":
                due = datetime.fromisoformat(n["due_at"].replace("Z", "+00:00"))
                local = due.astimezone(ZoneInfo(zones.get(n["camp_id"], "UTC"))).date()
                per_day[(n["camp_id"], n["student_id"], local.isoformat())] += 1
        for item, count in sorted(per_day.items()):
            if count > 1:
                self.differ("nudges", "/".join(item), f"{count} reminders in one day")
        lapses = Counter(
            (r["camp_id"], r["student_id"])
            for r in await _rows(
                conn,
                "SELECT camp_id, student_id FROM nudges.lapses"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        )
        welcome = Counter(
            (g["camp_id"], g["student_id"])
            for g in outputs[topics.GIFTS]
            if g["reason"].startswith("welcome back")
        )
        for pair in sorted(set(lapses) | set(welcome)):
            if lapses[pair] != welcome[pair]:
                self.differ(
                    "gifts",
                    "/".join(pair),
                    f"{lapses[pair]} lapses, {welcome[pair]} welcome-back gifts",
                )
        await self._returns(conn)

    async def _returns(self, conn: asyncpg.Connection) -> None:
        """Every return from a lapse that the check-ins show, and no other, was welcomed back
        (those whose welcome-back is not due yet aside)."""
        if not await conn.fetchval("SELECT to_regclass('nudges.lapses') IS NOT NULL"):
            return  # no nudges service here
        camps = {c.camp_id: c for c in self._latest_camps()}
        reports: dict[tuple[str, str], list[int]] = defaultdict(list)
        for e in self.events[topics.CHECKINS]:
            assert isinstance(e, CheckIn)
            if e.camp_id in camps and self.camp in (None, e.camp_id):
                reports[(e.camp_id, e.student_id)].append(nudge_rules.micros(e.occurred_at))
        not_due_yet = {
            (r["camp_id"], r["student_id"], r["day"])
            for r in await _rows(
                conn,
                "SELECT camp_id, student_id, day FROM nudges.nudges"
                " WHERE kind = 'welcome_back' AND status = 'pending'",
            )
        }
        want = {
            (c, s, back.lapse)
            for (c, s), us in reports.items()
            for back in nudge_rules.returns(us, camps[c].starts_on, camps[c].timezone)
            if 1 <= back.day <= camps[c].days and (c, s, back.day) not in not_due_yet
        }
        have = {
            (r["camp_id"], r["student_id"], r["lapse"])
            for r in await _rows(
                conn,
                "SELECT camp_id, student_id, lapse FROM nudges.lapses"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        }
        for c, s, lapse in sorted(want - have):
            self.differ("returns", f"{c}/{s}", f"came back {lapse} but was not welcomed back")
        for c, s, lapse in sorted(have - want):
            self.differ("returns", f"{c}/{s}", f"welcomed back {lapse}, which no check-in shows")

    # ---- contests ----

    async def _contests(
        self, conn: asyncpg.Connection, outputs: dict[str, list[dict[str, Any]]]
    ) -> None:
        weeks = {
            (r["camp_id"], r["week"]): json.loads(r["ranking"])
            if isinstance(r["ranking"], str)
            else r["ranking"]
            for r in await _rows(
                conn,
                "SELECT camp_id, week, ranking FROM contests.weeks"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        }
        published: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for c in outputs[topics.CONTESTS]:
            published[(c["camp_id"], c["week"])].append(c)
        for key in sorted(set(weeks) | set(published)):
            subject = f"{key[0]}/week {key[1]}"
            got = published.get(key, [])
            if len(got) != 1:
                self.differ("contests", subject, f"published {len(got)} times")
            elif key not in weeks:
                self.differ("contests", subject, "published but not settled")
            elif got[0]["ranking"] != weeks[key]:
                self.differ(
                    "contests", subject, "the published ranking differs from the settled one"
                )

    # ---- dead letters ----

    def _dead_letters(self, letters: list[dict[str, Any]]) -> None:
        lettered = Counter((d["service"], d["topic"], d["partition"], d["offset"]) for d in letters)
        for service, inputs in _services_of().items():
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
