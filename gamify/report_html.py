"""The growth report as one self-contained HTML file: inline SVG charts, no script, no fetch."""

from __future__ import annotations

import html
import json

from gamify.report import SEGMENTS, Report, render_text

COLORS = {
    "never": "#9aa5b1",
    "active": "#2f9e44",
    "slipping": "#f08c00",
    "lapsed": "#e03131",
    "on_leave": "#7950f2",
}
SERIES = ("#1c7ed6", "#e8590c")


def _line_chart(
    series: list[tuple[str, list[float]]], title: str, w: int = 640, h: int = 220
) -> str:
    pad = 36
    n = max(len(s) for _, s in series) if series else 0
    if n == 0:
        return ""
    step = (w - 2 * pad) / max(n - 1, 1)
    parts = [f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{html.escape(title)}">']
    for frac in (0, 0.25, 0.5, 0.75, 1):
        y = h - pad - frac * (h - 2 * pad)
        parts.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="4" y="{y + 4:.1f}" class="axis">{int(frac * 100)}%</text>')
    for i, (name, values) in enumerate(series):
        points = " ".join(
            f"{pad + k * step:.1f},{h - pad - v * (h - 2 * pad):.1f}" for k, v in enumerate(values)
        )
        color = SERIES[i % len(SERIES)]
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.append(
            f'<text x="{w - pad - 120}" y="{16 + 14 * i}" fill="{color}" class="legend">'
            f"{html.escape(name)}</text>"
        )
    for k in range(0, n, max(1, n // 10)):
        parts.append(f'<text x="{pad + k * step - 4:.1f}" y="{h - 10}" class="axis">{k + 1}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _stacked_bars(report: Report, w: int = 640, h: int = 220) -> str:
    pad = 36.0
    days = report.segments_by_day
    if not days or not report.students:
        return ""
    bar = (w - 2 * pad) / len(days)
    parts = [f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="segments per day">']
    for k, day in enumerate(days):
        y = h - pad
        for seg in SEGMENTS:
            height = day[seg] / report.students * (h - 2 * pad)
            y -= height
            parts.append(
                f'<rect x="{pad + k * bar + 1:.1f}" y="{y:.1f}" width="{max(bar - 2, 1):.1f}"'
                f' height="{height:.1f}" fill="{COLORS[seg]}"><title>day {k + 1} {seg}:'
                f" {day[seg]}</title></rect>"
            )
    for i, seg in enumerate(SEGMENTS):
        parts.append(
            f'<text x="{pad + i * 90}" y="14" fill="{COLORS[seg]}" class="legend">{seg}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _bars(values: dict[str, float], w: int = 640) -> str:
    if not values:
        return "<p>none</p>"
    top = max(abs(v) for v in values.values()) or 1
    row = 22
    h = row * len(values) + 8
    parts = [f'<svg viewBox="0 0 {w} {h}" role="img">']
    for i, (name, v) in enumerate(values.items()):
        width = abs(v) / top * (w - 260)
        parts.append(f'<text x="0" y="{i * row + 15}" class="axis">{html.escape(name)}</text>')
        parts.append(
            f'<rect x="180" y="{i * row + 3}" width="{width:.1f}" height="16" fill="#1c7ed6"/>'
        )
        parts.append(f'<text x="{186 + width:.1f}" y="{i * row + 15}" class="axis">{v:,.0f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _json(report: Report) -> str:
    """The report's figures, embedded for tools (safe inside a script element)."""
    return json.dumps(report.as_dict(), ensure_ascii=False).replace("</", "<\\/")


def render_html(
    report: Report, other: Report | None = None, labels: tuple[str, str] = ("A", "B")
) -> str:
    rates = [(labels[0] if other else "check-in rate", report.checkin_rate_by_day)]
    if other:
        rates.append((labels[1], other.checkin_rate_by_day))
    sections = [
        f"<h1>学员成长报告 · {html.escape(report.title)}</h1>",
        f"<p>{html.escape(report.camp_id)}: {report.students} students, {report.days} days from"
        f" {report.starts_on}.</p>",
        "<h2>Summary</h2>",
        f"<pre>{html.escape(render_text(report, other, labels))}</pre>",
        "<h2>Daily check-in rate</h2>",
        _line_chart(rates, "daily check-in rate"),
        "<h2>Segments per day</h2>"
        + (f" <small>({html.escape(labels[0])})</small>" if other else ""),
        _stacked_bars(report),
    ]
    if other:
        sections += [
            f"<h2>Segments per day <small>({html.escape(labels[1])})</small></h2>",
            _stacked_bars(other),
        ]
    sections += [
        "<h2>Flows between segments</h2>",
        _bars({k: float(v) for k, v in report.flows.items()}),
        "<h2>Reminders sent per segment (and followed by a check-in within 24 hours)</h2>",
        _bars(
            {
                **{f"{k} sent": float(v) for k, v in report.reminders_by_segment.items()},
                **{f"{k} followed": float(v) for k, v in report.reminders_followed.items()},
            }
        ),
        "<h2>Points paid per rule</h2>",
        _bars({k: float(v) for k, v in report.points_by_rule.items()}),
        "<h2>Badges</h2>",
        _bars({k: float(v) for k, v in report.badges.items()}),
        "<h2>Learning loop: homework handed in on time, by tier (%)</h2>",
        _bars({t: 100 * v for t, v in report.loop.homework_rate.items() if v is not None}),
        "<h2>Contest winners</h2>",
        "<ol>"
        + "".join(
            f"<li>week {w['week']}: "
            + html.escape(
                ", ".join(f"{e['student_id']} ({e['votes']} votes)" for e in w["top"])
                or "no entries"
            )
            + "</li>"
            for w in report.contest_winners
        )
        + "</ol>",
        f'<script type="application/json" id="data">{_json(report)}</script>',
    ]
    style = (
        "body{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;color:#212529}"
        "svg{width:100%;height:auto;background:#f8f9fa;margin-bottom:1em}"
        ".grid{stroke:#dee2e6}.axis{font-size:11px;fill:#495057}.legend{font-size:12px}"
        "pre{background:#f1f3f5;padding:1em;overflow:auto;font-size:12px}"
    )
    return (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        f"<title>学员成长报告 {html.escape(report.camp_id)}</title>"
        f"<style>{style}</style></head><body>" + "\n".join(sections) + "</body></html>\n"
    )
