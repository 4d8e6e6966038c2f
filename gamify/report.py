"""The cohort growth report (学员成长报告) of one camp, from the services' own tables: completion,
daily check-in rate, segments per day and the flows between them, reminders and whether a
check-in followed within 24 hours, welcome-backs, points per rule, badges, contest winners.
`gamify report CAMP` for a real camp; `gamify simulate` for a simulated one."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from gamify.report_figures import (
    Effect,
    LoopFigures,
    effects,
    featured_works,
    funnel,
    loop_figures,
    optional_rows,
)
from services.nudges.rules import segment_on
from shared.camp_days import camp_day
from shared.events import Segment
from shared.leave import NO_LEAVE
from shared.leave_store import camp_leaves

SEGMENTS = ("never", "active", "slipping", "lapsed", "on_leave")


class ReportError(Exception):
    """The camp cannot be reported on (unknown, or the services' tables are missing)."""


@dataclass
class Report:
    camp_id: str
    title: str
    starts_on: date
    days: int
    students: int
    completion_rate: float
    checkin_rate_by_day: list[float]
    segments_by_day: list[dict[str, int]]
    flows: dict[str, int]  # "slipping->active": count over the camp
    reminders_by_segment: dict[str, int]
    reminders_followed: dict[str, int]  # by segment: a check-in within 24 hours
    reminders_skipped: dict[str, int]  # by reason
    praise: int
    welcome_backs: int
    gifts: dict[str, int]
    points_by_rule: dict[str, int]
    badges: dict[str, int]
    contest_winners: list[dict[str, Any]] = field(default_factory=list)
    loop: LoopFigures = field(default_factory=lambda: LoopFigures())
    effects: list[Effect] = field(default_factory=list)
    first_day: int = 1  # the camp days reported (days to come are never shown)
    last_day: int = 0
    points_redeemed: int = 0  # spent on redemptions (never drawn as a payment)
    funnel: dict[str, int] = field(default_factory=dict)
    featured_works: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.last_day:
            self.last_day = self.first_day + len(self.checkin_rate_by_day) - 1

    def day_dates(self) -> list[date]:
        return [
            self.starts_on + timedelta(days=d - 1) for d in range(self.first_day, self.last_day + 1)
        ]

    @property
    def reminders_sent(self) -> int:
        return sum(self.reminders_by_segment.values())

    @property
    def follow_rate(self) -> float:
        sent = self.reminders_sent
        return sum(self.reminders_followed.values()) / sent if sent else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["starts_on"] = self.starts_on.isoformat()
        data["reminders_sent"] = self.reminders_sent
        data["follow_rate"] = self.follow_rate
        return data


async def report_day(conn: asyncpg.Connection, camp: asyncpg.Record, as_of: datetime | None) -> int:
    """The camp day a report is judged on: that of `as_of`; by default that of now, or the
    last camp day the services started if their clock is ahead (a simulation's topic clock)."""
    today = camp_day(camp["starts_on"], camp["timezone"], as_of or datetime.now(UTC))
    if as_of is None:
        started = await conn.fetchval(
            "SELECT max(day) FROM nudges.rollovers WHERE camp_id = $1", camp["camp_id"]
        )
        today = max(today, started or 0)
    return today


async def build_report(
    conn: asyncpg.Connection,
    camp_id: str,
    leave_cap: int | None = None,
    as_of: datetime | None = None,
    first: date | None = None,
    last: date | None = None,
) -> Report:
    """The report of the camp's days from `first` to `last` (dates; default: the whole camp so
    far), judged as of `as_of` (default: now, or the last camp day the services started, if
    their clock is ahead of the wall clock, as in a simulation): days to come are neither
    missed nor shown."""
    try:
        camp = await conn.fetchrow("SELECT * FROM nudges.camps WHERE camp_id = $1", camp_id)
    except asyncpg.UndefinedTableError as exc:
        raise ReportError(f"no nudges tables in this database ({exc})") from None
    if camp is None:
        raise ReportError(f"camp {camp_id!r} is not known to the nudges service")
    days: int = camp["days"]
    today = await report_day(conn, camp, as_of)
    first_day = 1 if first is None else (first - camp["starts_on"]).days + 1
    last_day = (
        min(days, today) if last is None else min(days, today, (last - camp["starts_on"]).days + 1)
    )
    first_day = max(first_day, 1)
    if last_day < first_day:
        raise ReportError(
            f"nothing to report: camp {camp_id!r} runs from {camp['starts_on']} for {days} days,"
            f" and as of camp day {today} the days asked for have not begun"
        )
    students = [
        r["student_id"]
        for r in await conn.fetch(
            "SELECT student_id FROM nudges.enrollments WHERE camp_id = $1 ORDER BY 1", camp_id
        )
    ]
    names = {
        r["student_id"]: r["display_name"]
        for r in await conn.fetch(
            "SELECT student_id, display_name FROM nudges.enrollments WHERE camp_id = $1", camp_id
        )
    }
    checked: dict[str, set[int]] = {s: set() for s in students}
    for r in await conn.fetch(
        "SELECT student_id, day FROM nudges.checkins WHERE camp_id = $1 AND day <= $2",
        camp_id,
        last_day,
    ):
        if r["student_id"] in checked:
            checked[r["student_id"]].add(r["day"])
    n = len(students)
    try:
        leave = await camp_leaves(conn, camp_id, leave_cap, nudges_schema=True)
    except asyncpg.UndefinedTableError:  # the nudges service has never run on this database
        leave = {}
    shown = range(first_day, last_day + 1)

    rate = [sum(1 for s in students if d in checked[s]) / n if n else 0.0 for d in shown]
    segments: list[dict[str, int]] = []
    flows: Counter[str] = Counter()
    previous: dict[str, Segment] = {}
    for d in shown:
        on_day = {s: segment_on(checked[s], d, leave.get(s, NO_LEAVE)) for s in students}
        segments.append({seg: sum(1 for v in on_day.values() if v == seg) for seg in SEGMENTS})
        for s, seg in on_day.items():
            if s in previous and previous[s] != seg:
                flows[f"{previous[s]}->{seg}"] += 1
        previous = on_day

    nudges = await conn.fetch(
        "SELECT n.kind, n.status, n.reason, n.segment, n.student_id, n.decided_at,"
        " EXISTS (SELECT 1 FROM nudges.checkins c WHERE c.camp_id = n.camp_id"
        "   AND c.student_id = n.student_id AND c.occurred_at > n.decided_at"
        "   AND c.occurred_at <= n.decided_at + interval '24 hours') AS followed"
        " FROM nudges.nudges n WHERE n.camp_id = $1 AND n.status <> 'pending'"
        " AND n.day BETWEEN $2 AND $3",
        camp_id,
        first_day,
        last_day,
    )
    by_segment: Counter[str] = Counter()
    followed: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    praise = welcome = 0
    for r in nudges:
        if r["kind"] == "reminder":
            if r["status"] == "sent":
                by_segment[r["segment"]] += 1
                followed[r["segment"]] += int(r["followed"])
            else:
                skipped[r["reason"]] += 1
        elif r["status"] == "sent":
            praise += r["kind"] == "praise"
            welcome += r["kind"] == "welcome_back"

    gifts = {
        r["gift_id"]: r["n"]
        for r in await optional_rows(
            conn,
            "SELECT substring(cause from '^[^:]+') AS gift_id, count(*) AS n FROM points.ledger"
            " WHERE camp_id = $1 AND rule_id = 'gift' GROUP BY 1",
            camp_id,
        )
    }
    points = {
        r["rule_id"]: r["total"]
        for r in await optional_rows(
            conn,
            "SELECT rule_id, sum(delta)::bigint AS total FROM points.ledger WHERE camp_id = $1"
            " GROUP BY rule_id ORDER BY rule_id",
            camp_id,
        )
    }
    badges = {
        r["badge_id"]: r["n"]
        for r in await optional_rows(
            conn,
            "SELECT badge_id, count(*) AS n FROM badges.awards WHERE camp_id = $1"
            " GROUP BY badge_id ORDER BY badge_id",
            camp_id,
        )
    }
    winners = []
    for r in await optional_rows(
        conn, "SELECT week, ranking FROM contests.weeks WHERE camp_id = $1 ORDER BY week", camp_id
    ):
        ranking = json.loads(r["ranking"]) if isinstance(r["ranking"], str) else r["ranking"]
        top = [
            {**e, "display_name": names.get(e["student_id"], e["student_id"])} for e in ranking[:3]
        ]
        winners.append({"week": r["week"], "top": top})
    completed = badges.get("completion", 0)
    return Report(
        camp_id=camp_id,
        title=camp["title"],
        starts_on=camp["starts_on"],
        days=days,
        students=n,
        completion_rate=completed / n if n else 0.0,
        checkin_rate_by_day=rate,
        segments_by_day=segments,
        flows=dict(sorted(flows.items())),
        reminders_by_segment=dict(sorted(by_segment.items())),
        reminders_followed=dict(sorted(followed.items())),
        reminders_skipped=dict(sorted(skipped.items())),
        praise=praise,
        welcome_backs=welcome,
        gifts=gifts,
        points_by_rule={k: v for k, v in points.items() if k != "redemption"},
        badges=badges,
        contest_winners=winners,
        loop=await loop_figures(conn, camp, students, last_day + 1),
        effects=await effects(conn, camp_id),
        first_day=first_day,
        last_day=last_day,
        points_redeemed=-points.get("redemption", 0),
        funnel=await funnel(conn, camp, checked, last_day, completed),
        featured_works=await featured_works(
            conn, camp_id, first_day, last_day, camp["starts_on"], camp["timezone"]
        ),
    )
