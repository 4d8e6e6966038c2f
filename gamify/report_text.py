"""The growth report in words: the summary's rows, labelled in Chinese (the default) or
English, laid out for a terminal; the HTML page lays out the same rows as a table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gamify.report import SEGMENTS, Report

ZH, EN = "zh", "en"
LANGS = (ZH, EN)

LABELS: dict[str, tuple[str, str]] = {
    "title": ("学员成长报告", "Growth report"),
    "days": ("第{a}-{b}天（共{n}天，自{start}起）", "camp days {a}-{b} of {n}, from {start}"),
    "students": ("学员人数", "students"),
    "funnel": ("完课漏斗", "completion funnel"),
    "enrolled": ("  报名", "  enrolled"),
    "checked_in": ("  打过卡", "  checked in at least once"),
    "watched_lessons": ("  看完八成已发布课程", "  watched 80% of the lessons so far"),
    "handed_in": ("  交过作业", "  handed in homework"),
    "checked_in_80": ("  八成以上天数打卡", "  checked in on 80% of the days"),
    "completed": ("  获完课勋章", "  earned the completion badge"),
    "completion": ("完课率", "completion rate"),
    "mean_rate": ("平均每日打卡率", "mean daily check-in rate"),
    "first_rate": ("首日打卡率", "check-in rate, first day"),
    "last_rate": ("最后一天打卡率", "check-in rate, last day"),
    "segment_last": ("{seg}（最后一天）", "{seg} on the last day"),
    "reminders": ("打卡提醒", "reminders sent"),
    "to_segment": ("  发给{seg}（24小时内打卡）", "  to {seg} (checked in within 24h)"),
    "followed": ("  24小时内打卡比例", "  followed by a check-in"),
    "not_sent": ("未发送的提醒", "reminders not sent"),
    "praise": ("表扬", "praise"),
    "welcome_backs": ("回归欢迎", "welcome-backs"),
    "flow": ("流转 {a}→{b}", "flows {a}->{b}"),
    "points": ("积分：{rule}", "points: {rule}"),
    "redeemed": ("兑换消耗积分", "points spent on redemptions"),
    "badge": ("勋章：{badge}", "badge: {badge}"),
    "homework_tiers": ("作业按时率（基础/实践/挑战）", "homework rate (basic/practice/challenge)"),
    "homework_all": ("作业按时率（全部）", "homework rate, all"),
    "homework_nudges": ("作业提醒（当天交上）", "homework nudges (handed in that day)"),
    "review_wait": ("作业点评等待 p50 / p90", "review wait p50 / p90"),
    "late_reviews": ("  超过24小时未点评的作业", "  works not reviewed within 24h"),
    "answer_wait": ("答疑等待 p50 / p90", "answer wait p50 / p90"),
    "questions": ("  提问（4小时内未答）", "  questions (not answered within 4h)"),
    "classmates": ("  同学的回答", "  answers by classmates"),
    "effects": ("24小时内打卡：提醒组 / 对照组", "checked in within 24h: reminded / held out"),
    "by_segment": ("  {key}", "  segment {key}"),
    "by_template": ("  模板 {key}", "  template {key}"),
    "featured": ("优秀作品", "featured works"),
    "contest": ("第{week}周作品赛", "contest week {week}"),
    "no_entries": ("无参赛作品", "no entries"),
    "votes": ("{n}票", "{n} votes"),
    "of": ("{rate}（{n}人次）", "{rate} of {n}"),
}
SEGMENT_NAMES = {
    "never": ("未开始", "never"),
    "active": ("活跃", "active"),
    "slipping": ("松懈", "slipping"),
    "lapsed": ("流失", "lapsed"),
    "on_leave": ("请假", "on_leave"),
}


def label(name: str, lang: str = ZH, **values: object) -> str:
    zh, en = LABELS[name]
    return (zh if lang == ZH else en).format(**values)


def segment_name(seg: str, lang: str = ZH) -> str:
    zh, en = SEGMENT_NAMES.get(seg, (seg, seg))
    return zh if lang == ZH else en


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def hours(pair: tuple[float | None, float | None]) -> str:
    return " / ".join("-" if h is None else f"{h:.1f}h" for h in pair)


Row = tuple[str, str, str]


def summary_rows(report: Report, other: Report | None = None, lang: str = ZH) -> list[Row]:
    """(label, value of report, value of other) for every line of the summary."""
    rows: list[Row] = []
    reports = [r for r in (report, other) if r is not None]

    def both(name: str, get: Callable[..., Any], fmt: Callable[[Any], str] = str) -> None:
        rows.append((name, fmt(get(report)), fmt(get(other)) if other else ""))

    def union(get: Callable[[Report], dict[str, Any]]) -> list[str]:
        return sorted({k for r in reports for k in get(r)})

    both(label("students", lang), lambda r: r.students)
    both(label("funnel", lang), lambda r: "")
    for stage in ("enrolled", "checked_in", "watched_lessons", "handed_in", "checked_in_80"):
        both(label(stage, lang), lambda r, s=stage: r.funnel.get(s, 0))
    both(label("completed", lang), lambda r: r.funnel.get("completed", 0))
    both(label("completion", lang), lambda r: r.completion_rate, pct)

    def rates(r: Report) -> list[float]:
        return r.checkin_rate_by_day

    both(label("mean_rate", lang), lambda r: sum(rates(r)) / max(len(rates(r)), 1), pct)
    both(label("first_rate", lang), lambda r: rates(r)[0] if rates(r) else 0, pct)
    both(label("last_rate", lang), lambda r: rates(r)[-1] if rates(r) else 0, pct)
    for seg in SEGMENTS:
        name = label("segment_last", lang, seg=segment_name(seg, lang))
        both(name, lambda r, s=seg: r.segments_by_day[-1][s] if r.segments_by_day else 0)
    both(label("reminders", lang), lambda r: r.reminders_sent)
    for seg in ("never", "slipping", "lapsed"):
        both(
            label("to_segment", lang, seg=segment_name(seg, lang)),
            lambda r, s=seg: (
                f"{r.reminders_by_segment.get(s, 0)} ({r.reminders_followed.get(s, 0)})"
            ),
        )
    both(label("followed", lang), lambda r: r.follow_rate, pct)
    both(
        label("not_sent", lang),
        lambda r: ", ".join(f"{k} {v}" for k, v in r.reminders_skipped.items()) or "-",
    )
    both(label("praise", lang), lambda r: r.praise)
    both(label("welcome_backs", lang), lambda r: r.welcome_backs)
    for a, b in (("slipping", "active"), ("lapsed", "active"), ("active", "on_leave")):
        name = label("flow", lang, a=segment_name(a, lang), b=segment_name(b, lang))
        both(name, lambda r, k=f"{a}->{b}": r.flows.get(k, 0))
    for rule in union(lambda r: r.points_by_rule):
        both(label("points", lang, rule=rule), lambda r, k=rule: r.points_by_rule.get(k, 0))
    both(label("redeemed", lang), lambda r: r.points_redeemed)
    for badge in union(lambda r: r.badges):
        both(label("badge", lang, badge=badge), lambda r, k=badge: r.badges.get(k, 0))
    both(
        label("homework_tiers", lang),
        lambda r: " / ".join(
            pct(r.loop.homework_rate.get(t)) for t in ("basic", "practice", "challenge")
        ),
    )
    both(label("homework_all", lang), lambda r: pct(r.loop.homework_rate.get("all")))
    both(
        label("homework_nudges", lang),
        lambda r: f"{r.loop.homework_nudges} ({r.loop.homework_followed})",
    )
    both(label("review_wait", lang), lambda r: hours(r.loop.review_wait_h))
    both(label("late_reviews", lang), lambda r: r.loop.works_over_24h)
    both(label("answer_wait", lang), lambda r: hours(r.loop.answer_wait_h))
    both(label("questions", lang), lambda r: f"{r.loop.questions} ({r.loop.questions_over_4h})")
    both(label("classmates", lang), lambda r: r.loop.classmate_answers)
    _effect_rows(reports, both, lang)
    return rows


def _effect_rows(reports: list[Report], both: Any, lang: str) -> None:
    """Reminded against held-out students, per segment and per template (when a holdout ran)."""
    if not any(e.group == "holdout" for r in reports for e in r.effects):
        return
    keys = sorted({(e.by, e.key) for r in reports for e in r.effects})

    def cell(r: Report, by: str, key: str) -> str:
        found = {e.group: e for e in r.effects if (e.by, e.key) == (by, key)}
        return " / ".join(
            label("of", lang, rate=pct(found[g].rate), n=found[g].sent) if g in found else "-"
            for g in ("reminded", "holdout")
        )

    both(label("effects", lang), lambda r: "")
    for by, key in keys:
        shown = segment_name(key, lang) if by == "segment" else key
        name = label("by_segment" if by == "segment" else "by_template", lang, key=shown)
        both(name, lambda r, b=by, k=key: cell(r, b, k))


def winners_line(week: dict[str, Any], lang: str = ZH) -> str:
    return ", ".join(
        f"{e['rank']}. {e.get('display_name', e['student_id'])}"
        f" ({label('votes', lang, n=e['votes'])})"
        for e in week["top"]
    ) or label("no_entries", lang)


def heading(report: Report, lang: str = ZH) -> str:
    days = label(
        "days", lang, a=report.first_day, b=report.last_day, n=report.days, start=report.starts_on
    )
    return f"{label('title', lang)}: {report.title} ({report.camp_id}), {days}"


def render_text(
    report: Report,
    other: Report | None = None,
    labels: tuple[str, str] = ("A", "B"),
    lang: str = ZH,
) -> str:
    """A terminal summary; with `other`, the two side by side."""
    rows = summary_rows(report, other, lang)
    for f in report.featured_works[:5]:
        rows.append((label("featured", lang), f"{f['name']}《{f['title']}》 {f['score']}", ""))
    for w in report.contest_winners:
        rows.append((label("contest", lang, week=w["week"]), winners_line(w, lang), ""))
    width = max(_width(r[0]) for r in rows)
    title = heading(report, lang)
    lines = [title, "=" * _width(title)]
    if other:
        lines.append(f"{'':<{width}}  {labels[0]:>22}  {labels[1]:>22}")
    for name, a, b in rows:
        pad = " " * (width - _width(name))
        if other:
            lines.append(f"{name}{pad}  {a:>22}  {b:>22}".rstrip())
        else:
            lines.append(f"{name}{pad}  {a}".rstrip())
    return "\n".join(lines)


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if "\u2e80" <= ch <= "\uffef" else 1 for ch in text)
