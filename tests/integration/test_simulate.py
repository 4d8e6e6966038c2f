"""A small seeded camp played through the four services: the growth report's figures agree
with what the services published and with what the simulated students did; `gamify report`
prints the same figures; the students are reproducible from the seed."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from gamify.audit import Auditor
from gamify.cli import main
from gamify.report import build_report
from gamify.report_html import render_html
from gamify.report_student import build_student_report, render_student_html
from gamify.report_text import render_text
from gamify.simulate import behaviour
from gamify.simulate.player import CampPlan, Player
from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus

PLAN = CampPlan(camp_id="sim-t", students=40, days=8, lessons=8, seed=11)


def test_students_are_reproducible_from_the_seed() -> None:
    def students(seed: int) -> list[behaviour.Student]:
        return behaviour.make_students(
            200, random.Random(seed), behaviour.DEFAULT_MIX, 21, PLAN.tuning
        )

    assert students(3) == students(3)
    assert students(3) != students(4)
    kinds = Counter(s.profile for s in students(3))
    assert set(kinds) == set(behaviour.PROFILES) and kinds["daily"] > kinds["never"]


async def test_the_report_agrees_with_the_services_outputs(
    all_services: list[ServiceRuntime],
    bus: Bus,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with Player(
        settings.kafka_bootstrap, settings.topic_prefix, settings.database_url, PLAN
    ) as player:
        await player.play()
    conn = await asyncpg.connect(settings.database_url)
    try:
        report = await build_report(conn, PLAN.camp_id)
        # a camp in progress, as of the middle of day 5: days to come are not shown
        noon5 = datetime.combine(
            PLAN.starts_on + timedelta(days=4), time(12), ZoneInfo(PLAN.timezone)
        )
        running = await build_report(conn, PLAN.camp_id, as_of=noon5)
        week = await build_report(
            conn,
            PLAN.camp_id,
            first=PLAN.starts_on + timedelta(days=1),
            last=PLAN.starts_on + timedelta(days=3),
        )
        someone = player.students[0].student_id
        personal = await build_student_report(conn, PLAN.camp_id, someone)
    finally:
        await conn.close()
    assert (running.first_day, running.last_day) == (1, 5)
    assert len(running.checkin_rate_by_day) == len(running.segments_by_day) == 5
    assert running.checkin_rate_by_day == report.checkin_rate_by_day[:5]
    assert (week.first_day, week.last_day, len(week.checkin_rate_by_day)) == (2, 4, 3)
    assert week.checkin_rate_by_day == report.checkin_rate_by_day[1:4]
    # the personal report: the calendar is what the student did
    mine = next(s for s in player.students if s.student_id == someone)
    checked = {d for d, state in personal.calendar.items() if state == "checked_in"}
    assert checked == mine.checked_days and len(personal.calendar) == PLAN.days
    page = render_student_html(personal)
    assert "个人成长报告" in page and personal.name in page

    assert report.students == PLAN.students and report.days == PLAN.days
    # check-ins: what the students did
    for day in range(1, PLAN.days + 1):
        did = sum(1 for s in player.students if day in s.checked_days)
        assert report.checkin_rate_by_day[day - 1] == pytest.approx(did / PLAN.students)
    assert sum(report.checkin_rate_by_day) > 0
    # points per rule: the sum of gamify.points deltas by rule
    points = await bus.read_quiet(topics.POINTS, settle=1.0)
    by_rule: Counter[str] = Counter()
    for p in points:
        by_rule[p["rule_id"]] += p["delta"]
    assert report.points_redeemed == -by_rule.pop("redemption", 0) > 0  # never drawn as paid
    assert report.points_by_rule == dict(by_rule)
    assert {"checkin", "submission", "streak", "contest"} <= set(by_rule)
    # badges: gamify.badges
    badges = Counter(b["badge_id"] for b in await bus.read_quiet(topics.BADGES, settle=0.5))
    assert report.badges == dict(badges)
    assert report.completion_rate == badges["completion"] / PLAN.students
    # reminders by segment, praise and welcome-backs: gamify.nudges (also what players saw)
    nudges = await bus.read_quiet(topics.NUDGES, settle=0.5)
    reminders = Counter(n["segment"] for n in nudges if n["kind"] == "reminder")
    assert report.reminders_by_segment == dict(reminders) and report.reminders_sent > 0
    assert "no_template" not in report.reminders_skipped  # every due nudge has its words
    assert report.praise == sum(1 for n in nudges if n["kind"] == "praise")
    welcome = sum(1 for n in nudges if n["kind"] == "welcome_back")
    assert report.welcome_backs == welcome
    gifts = await bus.read_quiet(topics.GIFTS, settle=0.5)
    assert sum(1 for g in gifts if g["gift_id"] == "welcome-back") == welcome
    assert len(player.nudges_seen) == len(nudges)
    # the learning loop: homework nudges, questions, waits
    homework_nudges = [n for n in nudges if n["kind"] == "homework"]
    assert report.loop.homework_nudges == len(homework_nudges) > 0
    assert report.loop.questions == player.sent[topics.QUESTIONS] > 0
    assert 0 < (report.loop.homework_rate["all"] or 0) < 1
    assert None not in (*report.loop.review_wait_h, *report.loop.answer_wait_h)
    assert "homework rate, all" in render_text(report, lang="en")
    assert "作业按时率（全部）" in render_text(report)
    # leave: students on leave are on_leave, not slipping or lapsed
    assert player.sent[topics.LEAVES] > 0
    assert any(day["on_leave"] for day in report.segments_by_day)
    # segments on the last day: the latest segment published for each student
    latest: dict[str, tuple[int, str]] = {}
    for m in await bus.read_quiet(topics.SEGMENTS, settle=0.5):
        if m["student_id"] not in latest or m["day"] >= latest[m["student_id"]][0]:
            latest[m["student_id"]] = (m["day"], m["segment"])
    last = Counter(seg for day, seg in latest.values() if day == PLAN.days)
    for segment, n in report.segments_by_day[-1].items():
        assert last.get(segment, 0) <= n  # moves are published; unchanged students are not
    assert sum(report.segments_by_day[-1].values()) == PLAN.students
    # contest winners: gamify.contests
    results = sorted(await bus.read_quiet(topics.CONTESTS, settle=0.5), key=lambda r: r["week"])
    assert [w["week"] for w in report.contest_winners] == [r["week"] for r in results] == [1, 2]
    for w, r in zip(report.contest_winners, results, strict=True):
        assert [{k: v for k, v in e.items() if k != "display_name"} for e in w["top"]] == (
            r["ranking"][:3]
        )
        assert all(e["display_name"] for e in w["top"])  # winners by name
    # reminders followed by a check-in within 24 hours: recount from the players' own record
    followed: dict[str, int] = defaultdict(int)
    assert sum(report.reminders_followed.values()) <= report.reminders_sent
    for segment, n in report.reminders_followed.items():
        followed[segment] += n
    assert report.follow_rate == sum(followed.values()) / report.reminders_sent

    html = render_html(report)
    assert (
        html.startswith("<!doctype html>")
        and "<svg" in html
        and "http" not in html.split("<body>")[0]
    )
    embedded = html.split('id="data">')[1].split("</script>")[0]
    assert json.loads(embedded)["points_by_rule"] == report.points_by_rule

    auditor = Auditor(settings.kafka_bootstrap, settings.topic_prefix, settings.database_url)
    audited = await auditor.run()
    assert audited.differences == [], "\n".join(map(str, audited.differences))
    assert audited.inputs > 500 and audited.ledger_rows > 100 and audited.badges > 0

    monkeypatch.setenv("GAMIFY_DATABASE_URL", settings.database_url)
    out_html = tmp_path / "report.html"
    args = ["report", PLAN.camp_id, "--json", "--html", str(out_html)]
    assert await asyncio.to_thread(main, args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["points_by_rule"] == report.points_by_rule
    assert printed["reminders_sent"] == report.reminders_sent
    assert out_html.read_text(encoding="utf-8").count("<svg") >= 4
    assert await asyncio.to_thread(main, ["report", "no-such-camp"]) == 1
    assert "not known" in capsys.readouterr().err

    # the audit sees what goes wrong: an entry lost, an amount changed, a badge given twice
    conn = await asyncpg.connect(settings.database_url)
    try:
        lost = await conn.fetchrow(
            "DELETE FROM points.ledger WHERE id = (SELECT min(id) FROM points.ledger"
            " WHERE rule_id = 'checkin') RETURNING student_id, cause"
        )
        await conn.execute(
            "UPDATE points.ledger SET delta = delta + 1 WHERE id = (SELECT min(id)"
            " FROM points.ledger WHERE rule_id = 'submission')"
        )
    finally:
        await conn.close()
    badge = (await bus.read_quiet(topics.BADGES, settle=0.3))[0]
    await bus.send(topics.BADGES, {**badge, "event_id": "a-second-id"})
    found = await Auditor(
        settings.kafka_bootstrap, settings.topic_prefix, settings.database_url
    ).run()
    text = "\n".join(map(str, found.differences))
    assert f"{PLAN.camp_id}/{lost['student_id']}/checkin/{lost['cause']}: missing" in text
    assert "without a cause" not in text and "paid " in text  # the changed amount
    assert "badges-out" in text and "published 2 times" in text
    assert "balance" in text
