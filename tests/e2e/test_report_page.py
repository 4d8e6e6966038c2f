"""The growth report's HTML page as a person sees it: rendered by headless Chromium (Debian's
`chromium`, with `fonts-noto-cjk`), screenshot taken, and checked: charts drawn, Chinese labels
present and drawn with a CJK font, no empty or NaN values, nothing wider than the page."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from gamify.report import Report
from gamify.report_charts import COLORS, SERIES
from gamify.report_figures import LoopFigures
from gamify.report_html import render_html
from tests.png import pixels

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian package chromium)")
WIDTH = 900


def a_report() -> Report:
    days = 10
    segments = [
        {"never": 3, "active": 30 - k, "slipping": k // 2, "lapsed": k - k // 2, "on_leave": 1}
        for k in range(days)
    ]
    return Report(
        camp_id="camp-2026-12",
        title="十二月摄影训练营",
        starts_on=date(2026, 12, 1),
        days=21,
        students=34,
        completion_rate=0.0,
        checkin_rate_by_day=[0.9 - 0.02 * k for k in range(days)],
        segments_by_day=segments,
        flows={"active->slipping": 12, "slipping->active": 8, "lapsed->active": 2},
        reminders_by_segment={"never": 10, "slipping": 25, "lapsed": 6},
        reminders_followed={"never": 3, "slipping": 14, "lapsed": 1},
        reminders_skipped={"checked_in": 200, "active": 80},
        praise=9,
        welcome_backs=2,
        gifts={"welcome-back": 2},
        points_by_rule={"checkin": 2800, "streak": 450, "submission": 1900},
        badges={"streak-7": 20, "first-excellent": 9},
        contest_winners=[
            {
                "week": 1,
                "top": [{"rank": 1, "student_id": "s1", "display_name": "王小美", "votes": 12}],
            }
        ],
        loop=LoopFigures(
            homework_rate={"basic": 0.62, "practice": 0.71, "challenge": None, "all": 0.64},
            homework_nudges=14,
            homework_followed=6,
            review_wait_h=(15.2, 26.0),
            works_over_24h=4,
            answer_wait_h=(1.1, 5.0),
            questions=20,
            questions_over_4h=3,
            classmate_answers=7,
        ),
        first_day=1,
        last_day=days,
        points_redeemed=300,
        funnel={
            "enrolled": 34,
            "checked_in": 31,
            "watched_lessons": 22,
            "handed_in": 25,
            "checked_in_80": 18,
            "completed": 0,
        },
        featured_works=[{"name": "李大力", "title": "冬日静物", "score": 96}],
    )


def visible_text(page: str) -> str:
    page = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    page = re.sub(r"<title>.*?</title>", "", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", page)


def hex_rgb(color: str) -> tuple[int, int, int]:
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))


def test_the_report_page_as_a_person_sees_it(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    page = render_html(a_report())
    text = visible_text(page)
    for label in (
        "学员成长报告",
        "十二月摄影训练营",
        "完课漏斗",
        "每日打卡率",
        "优秀作品",
        "王小美",
    ):
        assert label in text, label
    assert not re.search(r"\bNaN\b|\bnan\b|\bNone\b|\binf\b", text)
    assert "兑换消耗积分" in text and "redemption" not in text  # spent, not drawn as paid
    for day in ("1", "10"):  # the day axis
        assert f">{day}</text>" in page
    rows = shoot(page, tmp_path / "report")
    seen = {p for row in rows for p in row}
    for color in (COLORS["active"], COLORS["slipping"], COLORS["lapsed"], SERIES[0]):
        assert hex_rgb(color) in seen, f"nothing drawn in {color}"
    # nothing wider than the page: every column beyond the text's is background
    widest = max((x for row in rows for x, p in enumerate(row) if sum(p) < 600), default=0)
    assert widest < WIDTH - 20
    # the title is drawn in Chinese glyphs, not the boxes of a missing font: the same title
    # in characters no font has (private use) draws far fewer dark pixels
    head = page.split("<body>")[0] + "<body>"
    chinese = ink(shoot(f"{head}<h1>学员成长报告</h1></body>", tmp_path / "zh"))
    boxes = ink(shoot(f"{head}<h1>{chr(0xE000) * 6}</h1></body>", tmp_path / "tofu"))
    assert chinese > 1.5 * boxes, (chinese, boxes)


def shoot(page: str, stem: Path, height: int = 3600) -> list[list[tuple[int, int, int]]]:
    """The page's pixels as headless Chromium draws it."""
    assert CHROMIUM is not None
    stem.with_suffix(".html").write_text(page, encoding="utf-8")
    shot = stem.with_suffix(".png")
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={WIDTH},{height}",
            f"--screenshot={shot}",
            stem.with_suffix(".html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return pixels(shot)


def ink(rows: list[list[tuple[int, int, int]]]) -> int:
    return sum(1 for row in rows[:200] for p in row if sum(p) < 300)


def test_a_cjk_font_is_there_for_the_page() -> None:
    fc = shutil.which("fc-match")
    if fc is None:
        pytest.skip("no fontconfig")
    found = subprocess.run(
        [fc, "-f", "%{family}", "Noto Sans CJK SC:lang=zh"], capture_output=True, text=True
    ).stdout
    assert "CJK" in found, f"fonts-noto-cjk is missing ({found!r}): Chinese shows as boxes"
