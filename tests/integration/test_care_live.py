"""People in the loop through the real services: leave (请假) keeps a streak whole (points, the
streak badge), makes the student `on_leave` with no reminder, and the first check-in after it is
welcomed back from the break without the lapse's gift; the care list; praise as ops set it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gamify.audit import Auditor
from services.nudges.app import create_app
from services.nudges.config import DEFAULT_NUDGES_FILE
from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, new_id, processed, wait_for
from tests.integration.world import World, enrollment, get_json

C = "leave1"


def sh(day: int, hhmm: str) -> str:
    return f"2026-11-{19 + day:02d}T{hhmm}:00+08:00"


def leave(student: str, first: int, last: int, at: str) -> dict[str, Any]:
    return {
        "event_id": new_id("leave"),
        "occurred_at": at,
        "camp_id": C,
        "student_id": student,
        "from_day": first,
        "to_day": last,
        "reason": "出差",
    }


async def test_a_leave_through_points_badges_and_nudges(
    all_services: list[ServiceRuntime], bus: Bus, settings: Settings
) -> None:
    nudges = all_services[2]
    timed = settings.model_copy(update={"clock": "topic"})
    w = World(bus, timed, nudges)
    sent: list[str] = []

    async def send(topic: str, *events: dict[str, Any]) -> None:
        await w.send(topic, *events)
        sent.extend(e["event_id"] for e in events)

    async def everyone_caught_up() -> None:
        for schema in ("points", "badges"):
            await wait_for(
                lambda s=schema: processed(
                    settings.database_url,
                    s,
                    [  # type: ignore[misc]
                        i for i in sent if i in ids_of[s]
                    ],
                ),
                what=f"{schema} caught up",
            )

    ids_of: dict[str, set[str]] = {"points": set(), "badges": set()}

    async def send_all(topic: str, *events: dict[str, Any]) -> None:
        await send(topic, *events)
        if topic != topics.ENROLLMENTS:
            for schema in ids_of:
                ids_of[schema].update(e["event_id"] for e in events)

    await send_all(topics.CAMPS, camp(C, starts_on="2026-11-20", days=21))
    await send_all(
        topics.ENROLLMENTS, *(enrollment(C, s, s.upper(), sh(1, "00:00")) for s in ("ann", "bo"))
    )
    await w.tick(sh(1, "00:01"))
    # ann: days 1-5, on leave 6-7 (reported on day 5), back on day 8 and 9
    # bo: day 1, missed 2-4 (lapsed), then on leave 5-7, back on day 8
    await send_all(topics.CHECKINS, *(checkin(C, "ann", d) for d in range(1, 6)))
    await send_all(topics.CHECKINS, checkin(C, "bo", 1))
    await send_all(
        topics.LEAVES, leave("ann", 6, 7, sh(5, "21:00")), leave("bo", 5, 7, sh(4, "21:00"))
    )
    await w.tick(sh(6, "00:01"))
    moves = await w.published(topics.SEGMENTS, 3)
    on_leave = {(m["student_id"], m["day"]) for m in moves if m["segment"] == "on_leave"}
    # bo's leave (days 5-7) was reported on day 4, ann's (6-7) on day 5. A transaction that
    # takes both in sees day 5 (its latest event's), when bo is already on leave; bo's taken
    # in alone is seen on day 4, and bo goes on leave at the next tick (day 6).
    assert ("ann", 6) in on_leave
    assert len(on_leave & {("bo", 5), ("bo", 6)}) == 1
    await w.tick(sh(6, "20:00"))
    day6 = await w.decided()
    assert day6[("ann", 6)] == ("skipped", "on_leave")
    assert day6[("bo", 6)] == ("skipped", "on_leave")

    await send_all(topics.CHECKINS, checkin(C, "ann", 8), checkin(C, "ann", 9), checkin(C, "bo", 8))
    await w.tick(sh(9, "21:00"))
    nudges_out = await w.published(topics.NUDGES, 2)
    kinds = {(n["student_id"], n["kind"]) for n in nudges_out}
    assert ("ann", "back_from_leave") in kinds and ("ann", "welcome_back") not in kinds
    assert ("bo", "welcome_back") in kinds and ("bo", "back_from_leave") not in kinds
    gifts = await bus.read_quiet(topics.GIFTS, settle=0.5)
    assert {g["student_id"] for g in gifts} == {"bo"}

    await everyone_caught_up()
    points = await bus.read_quiet(topics.POINTS, settle=1.0)
    streaks = {(p["student_id"], p["rule_id"]) for p in points if p["rule_id"] == "streak"}
    assert streaks == {("ann", "streak")}  # ann's run 1-5 + 8-9 is 7 days through the leave
    badges = {
        (b["student_id"], b["badge_id"]) for b in await bus.read_quiet(topics.BADGES, settle=0.5)
    }
    assert ("ann", "streak-7") in badges

    audited = await Auditor(
        settings.kafka_bootstrap, settings.topic_prefix, settings.database_url
    ).run()
    assert audited.differences == [], "\n".join(map(str, audited.differences))


async def test_the_care_list_shows_who_needs_a_person(
    nudges: ServiceRuntime, bus: Bus, topic_settings: Settings
) -> None:
    c = "care1"
    w = World(bus, topic_settings, nudges)
    await w.send(topics.CAMPS, camp(c, starts_on="2026-11-20", days=21))
    names = {"ann": "王小美", "bo": "李大力", "cy": "陈思", "dee": "赵一", "eve": "孙悦"}
    await w.send(
        topics.ENROLLMENTS, *(enrollment(c, s, n, sh(1, "00:00")) for s, n in names.items())
    )
    await w.tick(sh(1, "00:01"))
    await w.send(
        topics.CHECKINS,
        checkin(c, "ann", 1),
        *(checkin(c, "bo", d) for d in range(1, 5)),
        *(checkin(c, "cy", d) for d in range(1, 4)),
        *(checkin(c, "eve", d) for d in range(1, 6)),
    )
    await w.send(topics.LEAVES, {**leave("cy", 4, 7, sh(3, "21:00")), "camp_id": c})
    await w.send(
        topics.SUBMISSIONS,
        {
            "event_id": new_id("sub"),
            "occurred_at": sh(1, "21:00"),
            "camp_id": c,
            "student_id": "ann",
            "submission_id": "ann-1",
            "assignment_id": "b-1",
            "tier": "basic",
            "title": "第一天的作业",
            "url": "https://example.org/ann-1",
            "contest_entry": False,
        },
    )
    await w.tick(sh(3, "20:00"))  # ann (slipping on day 3) is reminded
    await w.tick(sh(6, "10:00"))

    status, body = await get_json(nudges.http_port, f"/camps/{c}/care")
    assert status == 200 and body["day"] == 6
    rows = body["students"]
    # who needs a person most first: dee never started (5 days), ann lapsed (4 days missed)
    assert [(r["student_id"], r["segment"], r["days_missed"]) for r in rows] == [
        ("dee", "never", 5),
        ("ann", "lapsed", 4),
        ("bo", "slipping", 1),
        ("cy", "on_leave", 0),
    ]
    ann = rows[1]
    assert ann["last_checkin_day"] == 1 and ann["last_work"]["title"] == "第一天的作业"
    assert ann["last_work"]["reviewed_at"] is None
    assert [(n["kind"], n["came_back_within_24h"]) for n in ann["last_nudges"]] == [
        ("reminder", False)
    ]
    assert rows[3]["on_leave"] is True and rows[3]["leave_days"] == [4, 5, 6, 7]
    status, lapsed = await get_json(nudges.http_port, f"/camps/{c}/care?segment=lapsed")
    assert [r["student_id"] for r in lapsed["students"]] == ["ann"]

    import aiohttp

    url = f"http://127.0.0.1:{nudges.http_port}/camps/{c}/care.csv"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        text = (await r.read()).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("student_id,display_name,segment,days_missed")
    assert lines[2].startswith("ann,王小美,lapsed,4,1,")
    assert len(lines) == 5


async def test_every_reviewed_work_praised_once_a_day_and_the_first_work_after_a_lapse(
    bus: Bus, topic_settings: Settings, tmp_path: Path
) -> None:
    book = DEFAULT_NUDGES_FILE.read_text(encoding="utf-8")
    book = book.replace("  works: excellent ", "  works: every ").replace(
        "  first_after_lapse: false", "  first_after_lapse: true"
    )
    assert "works: every" in book and "first_after_lapse: true" in book
    path = tmp_path / "nudges.yaml"
    path.write_text(book, encoding="utf-8")
    settings = topic_settings.model_copy(update={"nudges_file": path})
    runtime = create_app(settings)
    await runtime.start()
    c = "praise1"
    try:
        w = World(bus, settings, runtime)
        await w.send(topics.CAMPS, camp(c, starts_on="2026-11-20", days=21))
        students = ("ann", "bo")
        await w.send(
            topics.ENROLLMENTS, *(enrollment(c, s, s.upper(), sh(1, "00:00")) for s in students)
        )
        await w.tick(sh(1, "00:01"))
        await w.send(
            topics.CHECKINS,
            *(checkin(c, "ann", d) for d in range(1, 5)),
            checkin(c, "bo", 1),
            checkin(c, "bo", 6, occurred_at=sh(6, "09:00")),
        )

        def work(student: str, sid: str, at: str) -> dict[str, Any]:
            return {
                "event_id": new_id("sub"),
                "occurred_at": at,
                "camp_id": c,
                "student_id": student,
                "submission_id": sid,
                "assignment_id": sid,
                "tier": "basic",
                "title": f"作品{sid}",
                "url": f"https://example.org/{sid}",
                "contest_entry": False,
            }

        def review(student: str, sid: str, at: str, excellent: bool) -> dict[str, Any]:
            return {
                "event_id": new_id("rev"),
                "occurred_at": at,
                "camp_id": c,
                "student_id": student,
                "submission_id": sid,
                "reviewer_id": "t",
                "score": 95 if excellent else 70,
                "excellent": excellent,
            }

        await w.send(
            topics.SUBMISSIONS,
            work("ann", "a1", sh(2, "10:00")),
            work("ann", "a2", sh(2, "11:00")),
            work("ann", "a3", sh(3, "11:00")),
            work("bo", "b1", sh(6, "10:00")),  # bo's first work after coming back
            work("bo", "b2", sh(6, "12:00")),
        )
        await w.send(
            topics.REVIEWS,
            review("ann", "a1", sh(3, "09:00"), True),
            review("ann", "a2", sh(3, "09:30"), False),  # the same day: one praise a day
            review("ann", "a3", sh(4, "09:00"), False),
        )
        await w.tick(sh(6, "13:00"))
        praise = [n for n in await w.published(topics.NUDGES, 4) if n["kind"] == "praise"]
        got = sorted((n["student_id"], n["template_id"][:6], n["due_at"][:10]) for n in praise)
        assert [(s, t) for s, t, _ in got] == [
            ("ann", "praise"),  # a1, excellent
            ("ann", "praise"),  # a3, reviewed, on day 4
            ("bo", "return"),  # b1, not b2
        ]
        texts = " ".join(n["message"] for n in praise)
        assert "作品a1" in texts and "作品a3" in texts and "作品b1" in texts
        assert "作品a2" not in texts and "作品b2" not in texts
        decided = await w.rows(
            "SELECT reason FROM nudges.nudges WHERE kind = 'praise' AND status = 'skipped'"
        )
        assert [r["reason"] for r in decided] == ["capped"]
    finally:
        await runtime.stop()


async def test_a_holdout_gets_no_reminders_and_both_groups_are_measured(
    bus: Bus, topic_settings: Settings, tmp_path: Path
) -> None:
    from services.nudges.rules import held_out
    from tests.helpers import metric, scrape

    book = DEFAULT_NUDGES_FILE.read_text(encoding="utf-8").replace("holdout: 0.0 ", "holdout: 0.5 ")
    path = tmp_path / "nudges.yaml"
    path.write_text(book, encoding="utf-8")
    settings = topic_settings.model_copy(update={"nudges_file": path})
    runtime = create_app(settings)
    await runtime.start()
    c = "hold1"
    students = [f"s{i}" for i in range(12)]
    out = {s for s in students if held_out(c, s, 0.5)}
    assert 0 < len(out) < len(students)
    try:
        w = World(bus, settings, runtime)
        await w.send(topics.CAMPS, camp(c, starts_on="2026-11-20", days=21))
        await w.send(
            topics.ENROLLMENTS, *(enrollment(c, s, s.upper(), sh(1, "00:00")) for s in students)
        )
        await w.tick(sh(1, "00:01"))
        await w.send(topics.CHECKINS, *(checkin(c, s, 1) for s in students))
        await w.tick(sh(3, "20:00"))  # everyone slipping on day 3: reminded, or held out
        decided = await w.decided()
        assert {s for s in students if decided[(s, 3)] == ("skipped", "holdout")} == out
        assert {s for s in students if decided[(s, 3)][0] == "sent"} == set(students) - out
        # two of each group check in within 24 hours
        back = sorted(out)[:2] + sorted(set(students) - out)[:2]
        await w.send(topics.CHECKINS, *(checkin(c, s, 3, occurred_at=sh(3, "21:00")) for s in back))
        await w.tick(sh(4, "20:30"))  # 24 hours after the decisions: measured

        async def measured() -> bool:
            samples = await scrape(runtime.http_port)
            got = {
                (group, outcome): metric(
                    samples, "gamify_reminder_outcomes_total", group=group, outcome=outcome
                )
                for group in ("reminded", "holdout")
                for outcome in ("checked_in", "not_checked_in")
            }
            return got == {
                ("reminded", "checked_in"): 2,
                ("reminded", "not_checked_in"): len(students) - len(out) - 2,
                ("holdout", "checked_in"): 2,
                ("holdout", "not_checked_in"): len(out) - 2,
            }

        await wait_for(measured, what="both groups measured once")
    finally:
        await runtime.stop()


async def test_a_student_whose_streak_a_freeze_held_is_told_so(
    bus: Bus, topic_settings: Settings, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        'version: "freezes"\nstreak: {freeze: {enabled: true, earn_every_days: 3}}\n',
        encoding="utf-8",
    )
    settings = topic_settings.model_copy(update={"rules_file": rules})
    runtime = create_app(settings)
    await runtime.start()
    c = "saved1"
    try:
        w = World(bus, settings, runtime)
        await w.send(topics.CAMPS, camp(c, starts_on="2026-11-20", days=21))
        await w.send(
            topics.ENROLLMENTS,
            *(enrollment(c, s, s.upper(), sh(1, "00:00")) for s in ("ann", "bo")),
        )
        await w.tick(sh(1, "00:01"))
        # ann: a run of 3 earns a freeze, which holds day 4; bo: 2 days, no freeze
        await w.send(
            topics.CHECKINS,
            *(checkin(c, "ann", d) for d in (1, 2, 3)),
            *(checkin(c, "bo", d) for d in (2, 3)),
        )
        await w.tick(sh(5, "20:00"))
        decided = await w.rows(
            "SELECT student_id, kind, status, template_id FROM nudges.nudges"
            " WHERE camp_id = $1 AND day = 5 ORDER BY 1",
            c,
        )
        assert [(r[0], r[1], r[2]) for r in decided] == [
            ("ann", "streak_saved", "sent"),
            ("bo", "reminder", "sent"),
        ]
        saved = [n for n in await w.published(topics.NUDGES, 2) if n["kind"] == "streak_saved"]
        assert len(saved) == 1 and "保护卡" in saved[0]["message"]
    finally:
        await runtime.stop()
