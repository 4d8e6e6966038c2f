"""Inline SVG charts of the growth report: a line chart and stacked bars over camp days (with
both axes labelled) and horizontal bars with their values."""

from __future__ import annotations

import html

COLORS = {
    "never": "#9aa5b1",
    "active": "#2f9e44",
    "slipping": "#f08c00",
    "lapsed": "#e03131",
    "on_leave": "#7950f2",
}
SERIES = ("#1c7ed6", "#e8590c")
PAD = 40.0


def _day_axis(parts: list[str], n: int, first_day: int, x_of: object, w: float, h: float) -> None:
    step = max(1, n // 12)
    for k in range(0, n, step):
        x = x_of(k)  # type: ignore[operator]
        parts.append(
            f'<text x="{x:.1f}" y="{h - PAD + 16:.1f}" class="axis" text-anchor="middle">'
            f"{first_day + k}</text>"
        )


def _percent_axis(parts: list[str], w: float, h: float) -> None:
    for frac in (0, 0.25, 0.5, 0.75, 1):
        y = h - PAD - frac * (h - 2 * PAD)
        parts.append(f'<line x1="{PAD}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="4" y="{y + 4:.1f}" class="axis">{int(frac * 100)}%</text>')


def line_chart(
    series: list[tuple[str, list[float]]],
    title: str,
    first_day: int = 1,
    w: int = 640,
    h: int = 240,
) -> str:
    n = max((len(s) for _, s in series), default=0)
    if n == 0:
        return ""
    step = (w - PAD - 20) / max(n - 1, 1)

    def x_of(k: int) -> float:
        return PAD + k * step

    parts = [f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{html.escape(title)}">']
    _percent_axis(parts, w, h)
    for i, (name, values) in enumerate(series):
        points = " ".join(
            f"{x_of(k):.1f},{h - PAD - v * (h - 2 * PAD):.1f}" for k, v in enumerate(values)
        )
        color = SERIES[i % len(SERIES)]
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        for k, v in enumerate(values):
            parts.append(
                f'<circle cx="{x_of(k):.1f}" cy="{h - PAD - v * (h - 2 * PAD):.1f}" r="2.5"'
                f' fill="{color}"><title>{first_day + k}: {100 * v:.1f}%</title></circle>'
            )
        parts.append(
            f'<text x="{w - 200}" y="{16 + 14 * i}" fill="{color}" class="legend">'
            f"{html.escape(name)}</text>"
        )
    _day_axis(parts, n, first_day, x_of, w, h)
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(
    days: list[dict[str, int]],
    students: int,
    names: dict[str, str],
    first_day: int = 1,
    w: int = 640,
    h: int = 260,
) -> str:
    """Each day's students per segment, as shares stacked to 100%."""
    if not days or not students:
        return ""
    bar = (w - PAD - 20) / len(days)

    def x_of(k: int) -> float:
        return PAD + (k + 0.5) * bar

    parts = [f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="segments per day">']
    _percent_axis(parts, w, h)
    for k, day in enumerate(days):
        y = h - PAD
        for seg, color in COLORS.items():
            count = day.get(seg, 0)
            height = count / students * (h - 2 * PAD)
            y -= height
            parts.append(
                f'<rect x="{PAD + k * bar + 1:.1f}" y="{y:.1f}" width="{max(bar - 2, 1):.1f}"'
                f' height="{height:.1f}" fill="{color}"><title>{first_day + k}'
                f" {html.escape(names.get(seg, seg))}: {count}</title></rect>"
            )
    for i, (seg, color) in enumerate(COLORS.items()):
        parts.append(
            f'<rect x="{PAD + i * 110}" y="6" width="10" height="10" fill="{color}"/>'
            f'<text x="{PAD + i * 110 + 14}" y="15" class="legend">'
            f"{html.escape(names.get(seg, seg))}</text>"
        )
    _day_axis(parts, len(days), first_day, x_of, w, h)
    parts.append("</svg>")
    return "".join(parts)


def bars(values: dict[str, float], w: int = 640, unit: str = "") -> str:
    """Horizontal bars, each with its label and value."""
    if not values:
        return "<p>-</p>"
    top = max(abs(v) for v in values.values()) or 1
    row = 22
    h = row * len(values) + 8
    parts = [f'<svg viewBox="0 0 {w} {h}" role="img">']
    for i, (name, v) in enumerate(values.items()):
        width = abs(v) / top * (w - 300)
        parts.append(f'<text x="4" y="{i * row + 15}" class="axis">{html.escape(name)}</text>')
        parts.append(
            f'<rect x="220" y="{i * row + 3}" width="{width:.1f}" height="16" fill="#1c7ed6"/>'
        )
        shown = f"{v:,.1f}{unit}" if unit else f"{v:,.0f}"
        parts.append(f'<text x="{226 + width:.1f}" y="{i * row + 15}" class="axis">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)
