"""The cohort growth report (学员成长报告) of one camp, from the services' own tables: completion,
daily check-in rate, segments per day and the flows between them, reminders and whether a
check-in followed within 24 hours, welcome-backs, points per rule, badges, contest winners.
`gamify report CAMP` for a real camp; `gamify simulate` for a simulated one."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import asyncpg

from gamify.report_figures import Effect, LoopFigures, effects, loop_figures, optional_rows
from services.nudges.rules import segment_on
from shared.leave import NO_LEAVE, leave_days

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


async def build_report(
    conn: asyncpg.Connection, camp_id: str, leave_cap: int | None = None
) -> Report:
    try:
        camp = await conn.fetchrow("SELECT * FROM nudges.camps WHERE camp_id = $1", camp_id)
    except asyncpg.UndefinedTableError as exc:
        raise ReportError(f"no nudges tables in this database ({exc})") from None
    if camp is None:
        raise ReportError(f"camp {camp_id!r} is not known to the nudges service")
    days: int = camp["days"]
    students = [
        r["student_id"]
        for r in await conn.fetch(
            "SELECT student_id FROM nudges.enrollments WHERE camp_id = $1 ORDER BY 1", camp_id
        )
    ]
    enrolled = set(students)
    checked: dict[str, set[int]] = {s: set() for s in students}
    for r in await conn.fetch(
        "SELECT student_id, day FROM nudges.checkins WHERE camp_id = $1", camp_id
    ):
        if r["student_id"] in enrolled:
            checked[r["student_id"]].add(r["day"])
    n = len(students)
    spans: dict[str, list[tuple[int, int]]] = {}
    for r in await optional_rows(
        conn, "SELECT student_id, from_day, to_day FROM nudges.leaves WHERE camp_id = $1", camp_id
    ):
        spans.setdefault(r["student_id"], []).append((r["from_day"], r["to_day"]))
    leave = {s: leave_days(x, leave_cap) for s, x in spans.items()}

    rate = [
        sum(1 for s in students if d in checked[s]) / n if n else 0.0 for d in range(1, days + 1)
    ]
    segments: list[dict[str, int]] = []
    flows: Counter[str] = Counter()
    previous: dict[str, str] = {}
    for d in range(1, days + 1):
        today: dict[str, str] = {
            s: segment_on(checked[s], d, leave.get(s, NO_LEAVE)) for s in students
        }
        segments.append({seg: sum(1 for v in today.values() if v == seg) for seg in SEGMENTS})
        for s, seg in today.items():
            if s in previous and previous[s] != seg:
                flows[f"{previous[s]}->{seg}"] += 1
        previous = today

    nudges = await conn.fetch(
        "SELECT n.kind, n.status, n.reason, n.segment, n.student_id, n.decided_at,"
        " EXISTS (SELECT 1 FROM nudges.checkins c WHERE c.camp_id = n.camp_id"
        "   AND c.student_id = n.student_id AND c.occurred_at > n.decided_at"
        "   AND c.occurred_at <= n.decided_at + interval '24 hours') AS followed"
        " FROM nudges.nudges n WHERE n.camp_id = $1 AND n.status <> 'pending'",
        camp_id,
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
        winners.append({"week": r["week"], "top": ranking[:3]})
    return Report(
        camp_id=camp_id,
        title=camp["title"],
        starts_on=camp["starts_on"],
        days=days,
        students=n,
        completion_rate=badges.get("completion", 0) / n if n else 0.0,
        checkin_rate_by_day=rate,
        segments_by_day=segments,
        flows=dict(sorted(flows.items())),
        reminders_by_segment=dict(sorted(by_segment.items())),
        reminders_followed=dict(sorted(followed.items())),
        reminders_skipped=dict(sorted(skipped.items())),
        praise=praise,
        welcome_backs=welcome,
        gifts=gifts,
        points_by_rule=points,
        badges=badges,
        contest_winners=winners,
        loop=await loop_figures(conn, camp, students),
        effects=await effects(conn, camp_id),
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _effect_rows(report: Report, other: Report | None, both: Any) -> None:
    """Reminded against held-out students, per segment and per template (when a holdout ran)."""
    reports = [r for r in (report, other) if r is not None]
    if not any(e.group == "holdout" for r in reports for e in r.effects):
        return
    keys = sorted({(e.by, e.key) for r in reports for e in r.effects})

    def cell(r: Report, by: str, key: str) -> str:
        found = {e.group: e for e in r.effects if (e.by, e.key) == (by, key)}
        return " / ".join(
            f"{_pct(found[g].rate)} of {found[g].sent}" if g in found else "-"
            for g in ("reminded", "holdout")
        )

    both("checked in within 24h: reminded / held out", lambda r: "")
    for by, key in keys:
        both(f"  {by} {key}", lambda r, b=by, k=key: cell(r, b, k))


def _opt_pct(x: float | None) -> str:
    return "-" if x is None else _pct(x)


def _hours(pair: tuple[float | None, float | None]) -> str:
    return " / ".join("-" if h is None else f"{h:.1f}h" for h in pair)


def render_text(
    report: Report, other: Report | None = None, labels: tuple[str, str] = ("A", "B")
) -> str:
    """A terminal summary; with `other`, the two side by side."""
    rows: list[tuple[str, str, str]] = []

    def row(name: str, a: object, b: object = "") -> None:
        rows.append((name, str(a), str(b)))

    def both(name: str, get: Any, fmt: Any = str) -> None:
        row(name, fmt(get(report)), fmt(get(other)) if other else "")

    both("students", lambda r: r.students)
    both("completion rate", lambda r: r.completion_rate, _pct)
    both(
        "mean daily check-in rate",
        lambda r: sum(r.checkin_rate_by_day) / max(len(r.checkin_rate_by_day), 1),
        _pct,
    )
    both(
        "check-in rate, first day",
        lambda r: r.checkin_rate_by_day[0] if r.checkin_rate_by_day else 0,
        _pct,
    )
    both(
        "check-in rate, last day",
        lambda r: r.checkin_rate_by_day[-1] if r.checkin_rate_by_day else 0,
        _pct,
    )
    for seg in SEGMENTS:
        both(
            f"{seg} on the last day",
            lambda r, s=seg: r.segments_by_day[-1][s] if r.segments_by_day else 0,
        )
    both("reminders sent", lambda r: r.reminders_sent)
    for seg in ("never", "slipping", "lapsed"):
        both(
            f"  to {seg} (checked in within 24h)",
            lambda r, s=seg: (
                f"{r.reminders_by_segment.get(s, 0)} ({r.reminders_followed.get(s, 0)})"
            ),
        )
    both("  followed by a check-in", lambda r: r.follow_rate, _pct)
    both(
        "reminders not sent",
        lambda r: ", ".join(f"{k} {v}" for k, v in r.reminders_skipped.items()) or "-",
    )
    both("praise", lambda r: r.praise)
    both("welcome-backs", lambda r: r.welcome_backs)
    both("flows slipping->active", lambda r: r.flows.get("slipping->active", 0))
    both("flows lapsed->active", lambda r: r.flows.get("lapsed->active", 0))
    rules = sorted(set(report.points_by_rule) | set(other.points_by_rule if other else {}))
    for rule in rules:
        both(f"points: {rule}", lambda r, k=rule: r.points_by_rule.get(k, 0))
    names = sorted(set(report.badges) | set(other.badges if other else {}))
    for badge in names:
        both(f"badge: {badge}", lambda r, k=badge: r.badges.get(k, 0))
    both(
        "homework rate (basic/practice/challenge)",
        lambda r: " / ".join(
            _opt_pct(r.loop.homework_rate.get(t)) for t in ("basic", "practice", "challenge")
        ),
    )
    both("homework rate, all", lambda r: _opt_pct(r.loop.homework_rate.get("all")))
    both(
        "homework nudges (handed in that day)",
        lambda r: f"{r.loop.homework_nudges} ({r.loop.homework_followed})",
    )
    both("review wait p50 / p90", lambda r: _hours(r.loop.review_wait_h))
    both("  works not reviewed within 24h", lambda r: r.loop.works_over_24h)
    both("answer wait p50 / p90", lambda r: _hours(r.loop.answer_wait_h))
    both(
        "  questions (not answered within 4h)",
        lambda r: f"{r.loop.questions} ({r.loop.questions_over_4h})",
    )
    both("  answers by classmates", lambda r: r.loop.classmate_answers)
    _effect_rows(report, other, both)
    for w in report.contest_winners:
        top = ", ".join(f"{e['rank']}. {e['student_id']} ({e['votes']} votes)" for e in w["top"])
        row(f"contest week {w['week']}", top or "no entries")
    width = max(len(r[0]) for r in rows)
    head = f"{'':<{width}}  {labels[0]:>22}  {labels[1]:>22}" if other else ""
    title = (
        f"Growth report: {report.title} ({report.camp_id}),"
        f" {report.days} days from {report.starts_on}"
    )
    lines = [title, "=" * len(title)]
    if head:
        lines.append(head)
    for name, a, b in rows:
        lines.append(
            f"{name:<{width}}  {a:>22}  {b:>22}".rstrip() if other else f"{name:<{width}}  {a}"
        )
    return "\n".join(lines)
