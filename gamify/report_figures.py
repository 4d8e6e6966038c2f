"""The growth report's figures beyond check-ins and segments: the learning loop (homework,
reviews, answers) and what reminders do (reminded students against the held-out ones)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from shared.camps import assignments_of
from shared.homework import earliest, homework


@dataclass
class LoopFigures:
    """The learning loop of the camp: homework on schedule, reviews and answers in time."""

    homework_rate: dict[str, float | None] = field(default_factory=dict)  # tier (or all)
    homework_nudges: int = 0
    homework_followed: int = 0  # the nudged student handed in work later that camp day
    review_wait_h: tuple[float | None, float | None] = (None, None)  # p50, p90
    works_over_24h: int = 0  # reviewed late or not reviewed, 24 hours after submission
    answer_wait_h: tuple[float | None, float | None] = (None, None)
    questions: int = 0
    questions_over_4h: int = 0
    classmate_answers: int = 0


async def loop_figures(
    conn: asyncpg.Connection, camp: asyncpg.Record, students: list[str], today: int
) -> LoopFigures:
    """As of camp day `today` (its homework still open counts only if already on time)."""
    camp_id = camp["camp_id"]
    schedule = assignments_of(camp["assignments"])
    handed: dict[str, list[tuple[str, Any]]] = {s: [] for s in students}
    for r in await conn.fetch(
        "SELECT student_id, assignment_id, occurred_at FROM nudges.works"
        " WHERE camp_id = $1 AND assignment_id IS NOT NULL",
        camp_id,
    ):
        handed.setdefault(r["student_id"], []).append((r["assignment_id"], r["occurred_at"]))
    totals: dict[str, list[int]] = {}
    for s in students:
        hw = homework(camp["starts_on"], camp["timezone"], schedule, earliest(handed[s]), today)
        for tier, rate in (*hw.by_tier.items(), ("all", hw.overall)):
            t = totals.setdefault(tier, [0, 0])
            t[0], t[1] = t[0] + rate.on_time, t[1] + rate.due
    nudged = await conn.fetchrow(
        "SELECT count(*) AS n, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM nudges.works w"
        "   WHERE w.camp_id = n.camp_id AND w.student_id = n.student_id"
        "   AND w.occurred_at > n.decided_at AND w.assignment_id = ANY($2::text[])"
        "   AND (w.occurred_at AT TIME ZONE $3)::date = $4::date + n.day - 1)) AS followed"
        " FROM nudges.nudges n WHERE n.camp_id = $1 AND n.kind = 'homework'"
        " AND n.status = 'sent'",
        camp_id,
        [a.assignment_id for a in schedule if a.tier != "basic"],
        camp["timezone"],
        camp["starts_on"],
    )
    reviews = await conn.fetchrow(
        "SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM"
        "   first_review_at - occurred_at) / 3600) AS p,"
        " count(*) FILTER (WHERE coalesce(first_review_at, 'infinity') > occurred_at"
        "   + interval '24 hours') AS late"
        " FROM nudges.works WHERE camp_id = $1 AND tier IS NOT NULL",
        camp_id,
    )
    answers = await conn.fetchrow(
        "SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM"
        "   first_answer_at - asked_at) / 3600) AS p, count(*) AS n,"
        " count(*) FILTER (WHERE coalesce(first_answer_at, 'infinity') > asked_at"
        "   + interval '4 hours') AS late"
        " FROM nudges.questions WHERE camp_id = $1 AND asked_at IS NOT NULL",
        camp_id,
    )
    classmates = await optional_rows(
        conn, "SELECT count(*) FROM badges.answers_given WHERE camp_id = $1", camp_id
    )
    return LoopFigures(
        homework_rate={t: (a / b if b else None) for t, (a, b) in totals.items()},
        homework_nudges=nudged["n"],
        homework_followed=nudged["followed"],
        review_wait_h=_pair(reviews["p"]),
        works_over_24h=reviews["late"],
        answer_wait_h=_pair(answers["p"]),
        questions=answers["n"],
        questions_over_4h=answers["late"],
        classmate_answers=classmates[0][0] if classmates else 0,
    )


def _pair(p: list[float | None] | None) -> tuple[float | None, float | None]:
    return (p[0], p[1]) if p else (None, None)


async def optional_rows(conn: asyncpg.Connection, sql: str, *args: object) -> list[asyncpg.Record]:
    """Rows of a service's table, or none when that service has never run on this database."""
    try:
        return list(await conn.fetch(sql, *args))
    except asyncpg.UndefinedTableError:
        return []


@dataclass
class Effect:
    """Reminders (and homework nudges) sent or held out, and how many were followed by a
    check-in within 24 hours, for one group (reminded, holdout) and one segment or template."""

    group: str
    by: str  # "segment" or "template"
    key: str
    sent: int
    followed: int

    @property
    def rate(self) -> float:
        return self.followed / self.sent if self.sent else 0.0


async def effects(conn: asyncpg.Connection, camp_id: str) -> list[Effect]:
    counts: dict[tuple[str, str, str], list[int]] = {}
    for r in await conn.fetch(
        "SELECT n.status, n.segment, n.template_id, EXISTS (SELECT 1 FROM nudges.checkins c"
        "   WHERE c.camp_id = n.camp_id AND c.student_id = n.student_id"
        "   AND c.occurred_at > n.decided_at"
        "   AND c.occurred_at <= n.decided_at + interval '24 hours') AS followed"
        " FROM nudges.nudges n WHERE n.camp_id = $1 AND n.kind IN ('reminder', 'homework')"
        " AND (n.status = 'sent' OR n.reason = 'holdout')",
        camp_id,
    ):
        group = "holdout" if r["status"] == "skipped" else "reminded"
        for by, key in (("segment", r["segment"]), ("template", r["template_id"])):
            c = counts.setdefault((group, by, key or "-"), [0, 0])
            c[0] += 1
            c[1] += int(r["followed"])
    return [Effect(g, b, k, n, f) for (g, b, k), (n, f) in sorted(counts.items())]


async def funnel(
    conn: asyncpg.Connection,
    camp: asyncpg.Record,
    checked: dict[str, set[int]],
    last_day: int,
    completed: int,
) -> dict[str, int]:
    """How far the students got, stage by stage, as of `last_day`: enrolled, checked in at
    least once, watched 80% of the lessons released so far (one a day), handed in homework,
    checked in on 80% of the days so far, the completion badge."""
    n = len(checked)
    lessons = await optional_rows(
        conn, "SELECT lessons FROM badges.camps WHERE camp_id = $1", camp["camp_id"]
    )
    released = min(lessons[0]["lessons"] if lessons else 0, last_day)
    watched = {
        r["student_id"]
        for r in await optional_rows(
            conn,
            "SELECT student_id FROM badges.lesson_progress WHERE camp_id = $1"
            " AND best_ratio >= 0.8 GROUP BY student_id HAVING count(*) >= $2",
            camp["camp_id"],
            0.8 * released,
        )
    }
    handed = {
        r["student_id"]
        for r in await conn.fetch(
            "SELECT DISTINCT student_id FROM nudges.works WHERE camp_id = $1", camp["camp_id"]
        )
    }
    return {
        "enrolled": n,
        "checked_in": sum(1 for d in checked.values() if d),
        "watched_lessons": len(watched & set(checked)) if released else 0,
        "handed_in": len(handed & set(checked)),
        "checked_in_80": sum(1 for d in checked.values() if len(d) >= 0.8 * last_day),
        "completed": completed,
    }


async def featured_works(
    conn: asyncpg.Connection, camp_id: str, first: int, last: int, starts_on: Any, tz: str
) -> list[dict[str, Any]]:
    """The excellent works reviewed in the days reported, best first, with their titles."""
    rows = await conn.fetch(
        "SELECT r.student_id, coalesce(e.display_name, r.student_id) AS name, w.title, r.score"
        " FROM nudges.excellent_reviews r"
        " JOIN nudges.works w ON w.camp_id = r.camp_id AND w.submission_id = r.submission_id"
        " LEFT JOIN nudges.enrollments e ON e.camp_id = r.camp_id AND e.student_id = r.student_id"
        " WHERE r.camp_id = $1 AND r.excellent"
        " AND (r.occurred_at AT TIME ZONE $4)::date - $5::date + 1 BETWEEN $2 AND $3"
        " ORDER BY r.score DESC, r.occurred_at LIMIT 10",
        camp_id,
        first,
        last,
        tz,
        starts_on,
    )
    return [dict(r) for r in rows]
