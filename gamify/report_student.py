"""A student's own growth report (个人成长报告), as of a camp day: the check-in calendar with
leave, runs, points, badges, homework, works and their reviews, questions and answers, and the
nudges received with whether a check-in followed. From the services' own tables."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from gamify.report import ReportError, report_day
from gamify.report_figures import optional_rows
from services.nudges.rules import current_streak
from shared.camp_days import longest_run
from shared.camps import assignments_of
from shared.homework import earliest, homework
from shared.leave import leave_days

ZH = "zh"
DAY_STATES = {  # state: (zh, en, color)
    "checked_in": ("已打卡", "checked in", "#2f9e44"),
    "on_leave": ("请假", "on leave", "#7950f2"),
    "missed": ("未打卡", "missed", "#e9ecef"),
}


@dataclass
class StudentReport:
    camp_id: str
    camp_title: str
    starts_on: date
    student_id: str
    name: str
    last_day: int
    calendar: dict[int, str]  # camp day -> checked_in | on_leave | missed
    longest_run: int
    current_streak: int
    points: dict[str, int]
    balance: int
    badges: list[str]
    homework: dict[str, Any]
    works: list[dict[str, Any]] = field(default_factory=list)
    questions: int = 0
    answers_given: int = 0
    nudges: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["starts_on"] = self.starts_on.isoformat()
        return data


async def build_student_report(
    conn: asyncpg.Connection,
    camp_id: str,
    student_id: str,
    as_of: datetime | None = None,
    leave_cap: int | None = None,
) -> StudentReport:
    camp = await conn.fetchrow("SELECT * FROM nudges.camps WHERE camp_id = $1", camp_id)
    if camp is None:
        raise ReportError(f"camp {camp_id!r} is not known to the nudges service")
    name = await conn.fetchval(
        "SELECT display_name FROM nudges.enrollments WHERE camp_id = $1 AND student_id = $2",
        camp_id,
        student_id,
    )
    if name is None:
        raise ReportError(f"student {student_id!r} is not enrolled in camp {camp_id!r}")
    last_day = min(camp["days"], await report_day(conn, camp, as_of))
    days = {
        r["day"]
        for r in await conn.fetch(
            "SELECT day FROM nudges.checkins WHERE camp_id = $1 AND student_id = $2 AND day <= $3",
            camp_id,
            student_id,
            last_day,
        )
    }
    spans = [
        (r["from_day"], r["to_day"])
        for r in await conn.fetch(
            "SELECT from_day, to_day FROM nudges.leaves WHERE camp_id = $1 AND student_id = $2",
            camp_id,
            student_id,
        )
    ]
    leave = leave_days(spans, leave_cap)
    calendar = {
        d: "checked_in" if d in days else "on_leave" if d in leave else "missed"
        for d in range(1, last_day + 1)
    }
    points: dict[str, int] = {}
    for r in await optional_rows(
        conn,
        "SELECT rule_id, sum(delta)::bigint AS total FROM points.ledger"
        " WHERE camp_id = $1 AND student_id = $2 GROUP BY rule_id ORDER BY rule_id",
        camp_id,
        student_id,
    ):
        points[r["rule_id"]] = r["total"]
    badges = [
        r["badge_id"]
        for r in await optional_rows(
            conn,
            "SELECT badge_id FROM badges.awards WHERE camp_id = $1 AND student_id = $2"
            " ORDER BY awarded_at",
            camp_id,
            student_id,
        )
    ]
    rows = await conn.fetch(
        "SELECT w.submission_id, w.title, w.tier, w.occurred_at AS submitted_at,"
        " w.first_review_at AS reviewed_at, x.score, coalesce(x.excellent, false) AS excellent,"
        " w.assignment_id"
        " FROM nudges.works w LEFT JOIN nudges.excellent_reviews x"
        "   ON x.camp_id = w.camp_id AND x.submission_id = w.submission_id"
        " WHERE w.camp_id = $1 AND w.student_id = $2 ORDER BY w.occurred_at",
        camp_id,
        student_id,
    )
    works = [{k: v for k, v in r.items() if k != "assignment_id"} for r in rows]
    handed_in = ((r["assignment_id"], r["submitted_at"]) for r in rows if r["assignment_id"])
    hw = homework(
        camp["starts_on"],
        camp["timezone"],
        assignments_of(camp["assignments"]),
        earliest(handed_in),
        last_day + 1,
    )
    counts = await optional_rows(
        conn,
        "SELECT (SELECT count(*) FROM badges.questions_asked WHERE camp_id = $1"
        "   AND student_id = $2), (SELECT count(*) FROM badges.answers_given WHERE camp_id = $1"
        "   AND student_id = $2)",
        camp_id,
        student_id,
    )
    nudges = [
        dict(r)
        for r in await conn.fetch(
            "SELECT n.kind, n.day, n.template_id, n.decided_at AS sent_at,"
            " EXISTS (SELECT 1 FROM nudges.checkins c WHERE c.camp_id = n.camp_id"
            "   AND c.student_id = n.student_id AND c.occurred_at > n.decided_at"
            "   AND c.occurred_at <= n.decided_at + interval '24 hours') AS came_back"
            " FROM nudges.nudges n WHERE n.camp_id = $1 AND n.student_id = $2"
            " AND n.status = 'sent' AND n.day <= $3 ORDER BY n.decided_at",
            camp_id,
            student_id,
            last_day,
        )
    ]
    return StudentReport(
        camp_id=camp_id,
        camp_title=camp["title"],
        starts_on=camp["starts_on"],
        student_id=student_id,
        name=name,
        last_day=last_day,
        calendar=calendar,
        longest_run=longest_run(days, leave),
        current_streak=current_streak(days, last_day, leave),
        points=points,
        balance=sum(points.values()),
        badges=badges,
        homework={
            "rate": hw.overall.value,
            "by_tier": {t: r.value for t, r in hw.by_tier.items()},
            "assignments": hw.statuses,
        },
        works=works,
        questions=counts[0][0] if counts else 0,
        answers_given=counts[0][1] if counts else 0,
        nudges=nudges,
    )


LABELS = {
    "title": ("个人成长报告", "Personal growth report"),
    "calendar": ("打卡日历", "Check-in calendar"),
    "runs": ("最长连续打卡 {a} 天，当前连续 {b} 天", "longest run {a} days, current streak {b}"),
    "points": ("积分（余额 {n}）", "Points (balance {n})"),
    "badges": ("勋章", "Badges"),
    "homework": ("作业按时率 {rate}", "Homework on time: {rate}"),
    "works": ("作品", "Works"),
    "qa": ("提问 {q} 次，回答同学 {a} 次", "{q} questions asked, {a} answers to classmates"),
    "nudges": ("收到的提醒与鼓励", "Nudges received"),
    "came_back": ("24小时内打卡", "checked in within 24h"),
    "excellent": ("优秀", "excellent"),
    "not_reviewed": ("待点评", "waiting for a review"),
}


def _t(key: str, lang: str, **values: object) -> str:
    zh, en = LABELS[key]
    return (zh if lang == ZH else en).format(**values)


def render_student_html(r: StudentReport, lang: str = ZH) -> str:
    from gamify.report_html import STYLE

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.0f}%"

    cells = "".join(
        f'<div class="day" style="background:{DAY_STATES[state][2]}"'
        f' title="{d}: {DAY_STATES[state][0 if lang == ZH else 1]}">{d}</div>'
        for d, state in sorted(r.calendar.items())
    )
    legend = " ".join(
        f'<span class="key" style="background:{color}"></span>{zh if lang == ZH else en}'
        for zh, en, color in DAY_STATES.values()
    )
    works = "".join(
        f"<tr><td>{html.escape(str(w['title']))}</td><td>{html.escape(str(w['tier']))}</td>"
        f"<td>{w['submitted_at']:%m-%d %H:%M}</td><td>"
        + (
            html.escape(_t("not_reviewed", lang))
            if w["reviewed_at"] is None
            else f"{w['reviewed_at']:%m-%d %H:%M}"
            + (f" · {_t('excellent', lang)} {w['score']}" if w["excellent"] else "")
        )
        + "</td></tr>"
        for w in r.works
    )
    nudges = "".join(
        f"<tr><td>{n['day']}</td><td>{html.escape(str(n['kind']))}</td>"
        f"<td>{html.escape(str(n['template_id']))}</td>"
        f"<td>{'✓ ' + _t('came_back', lang) if n['came_back'] else ''}</td></tr>"
        for n in r.nudges
    )
    points = "".join(
        f"<tr><td>{html.escape(k)}</td><td class=n>{v:,}</td></tr>" for k, v in r.points.items()
    )
    style = STYLE + (
        ".cal{display:grid;grid-template-columns:repeat(7,1fr);gap:4px;max-width:420px}"
        ".day{padding:6px 0;text-align:center;border-radius:4px;font-size:13px}"
        ".key{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;border-radius:2px}"
    )
    body = [
        f"<h1>{html.escape(_t('title', lang))} · {html.escape(r.name)}</h1>",
        f"<p>{html.escape(r.camp_title)} ({html.escape(r.camp_id)}) ·"
        f" {r.starts_on} · 1-{r.last_day}</p>",
        f"<h2>{_t('calendar', lang)}</h2><div class=cal>{cells}</div><p>{legend}</p>",
        f"<p>{_t('runs', lang, a=r.longest_run, b=r.current_streak)}</p>",
        f"<h2>{_t('points', lang, n=f'{r.balance:,}')}</h2><table>{points}</table>",
        f"<h2>{_t('badges', lang)}</h2><p>{html.escape(', '.join(r.badges) or '-')}</p>",
        f"<h2>{_t('homework', lang, rate=pct(r.homework['rate']))}</h2>",
        f"<h2>{_t('works', lang)}</h2><table>{works}</table>",
        f"<p>{_t('qa', lang, q=r.questions, a=r.answers_given)}</p>",
        f"<h2>{_t('nudges', lang)}</h2><table>{nudges}</table>",
    ]
    return (
        f'<!doctype html><html lang="{"zh-CN" if lang == ZH else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{html.escape(_t('title', lang))} {html.escape(r.name)}</title>"
        f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )


def render_student_text(r: StudentReport, lang: str = ZH) -> str:
    marks = {"checked_in": "■", "on_leave": "◇", "missed": "·"}
    calendar = "".join(marks[s] for _, s in sorted(r.calendar.items()))
    rate = r.homework["rate"]
    return "\n".join(
        [
            f"{_t('title', lang)}: {r.name} ({r.student_id}), {r.camp_title}, 1-{r.last_day}",
            f"{_t('calendar', lang)}: {calendar}",
            _t("runs", lang, a=r.longest_run, b=r.current_streak),
            _t("points", lang, n=r.balance)
            + ": "
            + ", ".join(f"{k} {v}" for k, v in r.points.items()),
            f"{_t('badges', lang)}: {', '.join(r.badges) or '-'}",
            _t("homework", lang, rate="-" if rate is None else f"{100 * rate:.0f}%"),
            _t("qa", lang, q=r.questions, a=r.answers_given),
        ]
    )
