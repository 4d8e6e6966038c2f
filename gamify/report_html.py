"""The growth report as one self-contained HTML page: inline SVG charts with axes, the summary as
a table that fits the column, Chinese labels by default; no script runs, nothing is fetched."""

from __future__ import annotations

import html
import json

from gamify.report import SEGMENTS, Report
from gamify.report_charts import bars, line_chart, stacked_bars
from gamify.report_text import ZH, heading, label, segment_name, summary_rows, winners_line

SECTIONS: dict[str, tuple[str, str]] = {
    "summary": ("概览", "Summary"),
    "rate": ("每日打卡率", "Daily check-in rate"),
    "segments": ("每日学员分层", "Segments per day"),
    "funnel": ("完课漏斗", "Completion funnel"),
    "flows": ("分层流转", "Flows between segments"),
    "reminders": (
        "各分层的打卡提醒（及24小时内打卡）",
        "Reminders sent per segment (and followed by a check-in within 24 hours)",
    ),
    "points": ("各规则发放的积分", "Points paid per rule"),
    "badges": ("勋章", "Badges"),
    "homework": ("作业按时率（按层级）", "Homework handed in on time, by tier (%)"),
    "featured": ("优秀作品", "Featured works"),
    "winners": ("作品赛获奖", "Contest winners"),
}
STYLE = (
    "body{font-family:system-ui,-apple-system,'Noto Sans CJK SC','Noto Sans SC','PingFang SC',"
    "'Microsoft YaHei','Source Han Sans SC',sans-serif;max-width:760px;margin:2em auto;"
    "padding:0 1em;color:#212529;line-height:1.5}"
    "svg{width:100%;height:auto;background:#f8f9fa;margin-bottom:1em}"
    ".grid{stroke:#dee2e6}.axis{font-size:11px;fill:#495057}.legend{font-size:12px}"
    "table{border-collapse:collapse;width:100%;font-size:14px;margin-bottom:1em}"
    "td,th{padding:3px 8px;border-bottom:1px solid #e9ecef;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}td.n{text-align:right;white-space:nowrap}"
)


def _section(name: str, lang: str) -> str:
    zh, en = SECTIONS[name]
    return f"<h2>{html.escape(zh if lang == ZH else en)}</h2>"


def _summary_table(report: Report, other: Report | None, labels: tuple[str, str], lang: str) -> str:
    head = (
        f"<tr><th></th><th>{html.escape(labels[0])}</th><th>{html.escape(labels[1])}</th></tr>"
        if other
        else ""
    )
    cols = 3 if other else 2
    body = "".join(
        f"<tr><td>{html.escape(name.strip())}</td><td class=n>{html.escape(a)}</td>"
        + (f"<td class=n>{html.escape(b)}</td>" if other else "")
        + "</tr>"
        if a or b
        else f"<tr><th colspan={cols}>{html.escape(name.strip())}</th></tr>"
        for name, a, b in summary_rows(report, other, lang)
    )
    return f"<table>{head}{body}</table>"


def _json(report: Report) -> str:
    """The report's figures, embedded for tools (safe inside a script element)."""
    return json.dumps(report.as_dict(), ensure_ascii=False, default=str).replace("</", "<\\/")


def render_html(
    report: Report,
    other: Report | None = None,
    labels: tuple[str, str] = ("A", "B"),
    lang: str = ZH,
) -> str:
    first = report.first_day
    rates = [(labels[0] if other else label("mean_rate", lang), report.checkin_rate_by_day)]
    if other:
        rates.append((labels[1], other.checkin_rate_by_day))
    names = {seg: segment_name(seg, lang) for seg in SEGMENTS}
    stages = ("enrolled", "checked_in", "watched_lessons", "handed_in", "checked_in_80")
    funnel = {label(s, lang).strip(): float(report.funnel.get(s, 0)) for s in stages}
    funnel[label("completed", lang).strip()] = float(report.funnel.get("completed", 0))
    flows = {
        f"{segment_name(k.split('->')[0], lang)} → {segment_name(k.split('->')[1], lang)}": float(v)
        for k, v in report.flows.items()
    }
    reminders = {
        **{f"{names.get(k, k)} ✉": float(v) for k, v in report.reminders_by_segment.items()},
        **{f"{names.get(k, k)} ✓": float(v) for k, v in report.reminders_followed.items()},
    }
    sections = [
        f"<h1>{html.escape(heading(report, lang))}</h1>",
        _section("summary", lang),
        _summary_table(report, other, labels, lang),
        _section("rate", lang),
        line_chart(rates, label("mean_rate", lang), first),
        _section("segments", lang)
        + (f" <small>({html.escape(labels[0])})</small>" if other else ""),
        stacked_bars(report.segments_by_day, report.students, names, first),
    ]
    if other:
        sections += [
            _section("segments", lang) + f" <small>({html.escape(labels[1])})</small>",
            stacked_bars(other.segments_by_day, other.students, names, other.first_day),
        ]
    homework = {t: 100 * v for t, v in report.loop.homework_rate.items() if v is not None}
    sections += [
        _section("funnel", lang),
        bars(funnel),
        _section("flows", lang),
        bars(flows),
        _section("reminders", lang),
        bars(reminders),
        _section("points", lang),
        bars({k: float(v) for k, v in report.points_by_rule.items()}),
        _section("badges", lang),
        bars({k: float(v) for k, v in report.badges.items()}),
        _section("homework", lang),
        bars(homework, unit="%"),
        _section("featured", lang),
        "<ol>"
        + "".join(
            f"<li>{html.escape(str(f['name']))}《{html.escape(str(f['title']))}》 {f['score']}</li>"
            for f in report.featured_works
        )
        + "</ol>",
        _section("winners", lang),
        "<ol>"
        + "".join(
            f"<li>{html.escape(label('contest', lang, week=w['week']))}:"
            f" {html.escape(winners_line(w, lang))}</li>"
            for w in report.contest_winners
        )
        + "</ol>",
        f'<script type="application/json" id="data">{_json(report)}</script>',
    ]
    return (
        f'<!doctype html><html lang="{"zh-CN" if lang == ZH else "en"}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{html.escape(label('title', lang))} {html.escape(report.camp_id)}</title>"
        f"<style>{STYLE}</style></head><body>" + "\n".join(sections) + "</body></html>\n"
    )
