"""The nudges service on the real broker and PostgreSQL, living on simulated time
(`GAMIFY_CLOCK=topic`): segments, reminders and every reason not to send one, praise,
welcome-backs with their gift, and once-only delivery across replicas and restarts."""

from __future__ import annotations

import itertools

from services.nudges.app import create_app
from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, wait_for
from tests.integration.world import (
    World,
    enrollment,
    preference,
    review,
    submission,
    total,
)

DAY1 = "2026-11-20"  # camps below start on this date


def sh(day: int, hhmm: str) -> str:
    """A moment of camp day `day` in Shanghai time."""
    return f"2026-11-{19 + day:02d}T{hhmm}+08:00"


async def test_day_one_reminders_follow_every_rule(
    nudges: ServiceRuntime, bus: Bus, topic_settings: Settings
) -> None:
    w = World(bus, topic_settings, nudges)
    await w.send(topics.CAMPS, camp("n1", starts_on=DAY1, reminder="20:00"))
    students = {
        "amy": "王小美",  # cohort time
        "bob": "李大力",  # opted out
        "cat": "陈思",  # own time 21:59: the last minute before the quiet hours
        "dan": "赵一",  # own time 22:00: in the quiet hours, never sent
        "eve": "孙悦",  # checks in one second before the cohort time
        "fay": "周芳",  # own time 07:30: waits for the end of the quiet hours, 08:00
    }
    await w.send(
        topics.ENROLLMENTS,
        *(enrollment("n1", s, name, "2026-11-10T10:00:00+08:00") for s, name in students.items()),
    )
    await w.send(
        topics.PREFERENCES,
        preference("n1", "bob", "2026-11-10T10:00:00+08:00", opt_out=True),
        preference("n1", "cat", "2026-11-10T10:00:00+08:00", "21:59"),
        preference("n1", "dan", "2026-11-10T10:00:00+08:00", "22:00"),
        preference("n1", "fay", "2026-11-10T10:00:00+08:00", "07:30"),
        preference("n1", "ghost", "2026-11-10T10:00:00+08:00", "20:00"),  # never enrolled
    )

    await w.tick(sh(1, "00:00:05"))
    moves = await w.published(topics.SEGMENTS, 6)
    assert sorted((m["student_id"], m["previous"], m["segment"], m["day"]) for m in moves) == [
        (s, None, "never", 1) for s in sorted(students)
    ]

    async def sizes_shown() -> bool:
        samples = await w.metrics()
        return total(samples, "gamify_segment_size", camp="n1", segment="never") == 6

    await wait_for(sizes_shown, what="segment sizes as a metric")

    await w.tick(sh(1, "07:59:59"))
    assert await w.decided() == {}
    await w.tick(sh(1, "08:00"))
    assert {k: v[0] for k, v in (await w.decided()).items()} == {("fay", 1): "sent"}

    await w.send(topics.CHECKINS, checkin("n1", "eve", 1, occurred_at=sh(1, "19:59:59")))
    await w.tick(sh(1, "19:59:59"))
    assert set(await w.decided()) == {("fay", 1)}

    await w.tick(sh(1, "20:00"))
    decided = await w.decided()
    assert decided[("amy", 1)][0] == "sent"
    assert decided[("bob", 1)] == ("skipped", "opted_out")
    assert decided[("eve", 1)] == ("skipped", "checked_in")
    assert ("cat", 1) not in decided and ("dan", 1) not in decided

    await w.tick(sh(1, "21:58:59"))
    assert ("cat", 1) not in await w.decided()
    await w.tick(sh(1, "21:59"))
    assert (await w.decided())[("cat", 1)][0] == "sent"
    await w.tick(sh(1, "22:00"))
    assert (await w.decided())[("dan", 1)] == ("skipped", "quiet_hours")

    sent = await w.published(topics.NUDGES, 3)
    by_student = {m["student_id"]: m for m in sent}
    assert sorted(by_student) == ["amy", "cat", "fay"] and len(sent) == 3
    amy = by_student["amy"]
    assert amy["kind"] == "reminder" and amy["segment"] == "never"
    assert amy["message"].startswith("王小美") and "{" not in amy["message"]
    assert amy["due_at"] == "2026-11-20T12:00:00Z"
    assert by_student["fay"]["due_at"] == "2026-11-20T00:00:00Z"  # 08:00 local, not 07:30
    assert by_student["cat"]["due_at"] == "2026-11-20T13:59:00Z"

    samples = await w.metrics()
    assert total(samples, "gamify_nudges_sent_total", kind="reminder", segment="never") == 3
    for reason in ("opted_out", "checked_in", "quiet_hours"):
        assert total(samples, "gamify_nudges_skipped_total", kind="reminder", reason=reason) == 1
    assert total(samples, "gamify_camp_day_rollovers_total") == 1


async def test_personal_times_set_during_the_day(
    nudges: ServiceRuntime, bus: Bus, topic_settings: Settings
) -> None:
    """A new personal time moves today's pending reminder; one already sent is not repeated;
    a student who enrols after the cohort time gets a reminder only at a personal time."""
    w = World(bus, topic_settings, nudges)
    await w.send(topics.CAMPS, camp("n2", starts_on=DAY1, reminder="20:00"))
    await w.send(
        topics.ENROLLMENTS,
        *(enrollment("n2", s, s.upper(), "2026-11-10T10:00:00+08:00") for s in ("kim", "lee")),
    )
    await w.tick(sh(1, "00:00:05"))
    await w.tick(sh(1, "19:00"))
    # lee moves today's reminder from the cohort's 20:00 to 20:30
    await w.send(topics.PREFERENCES, preference("n2", "lee", sh(1, "19:00"), "20:30"))
    await w.tick(sh(1, "20:00"))
    decided = await w.decided()
    assert decided[("kim", 1)][0] == "sent" and ("lee", 1) not in decided

    # after the cohort time: kim (already reminded) picks 21:00, a newcomer enrols with 21:30
    await w.send(topics.PREFERENCES, preference("n2", "kim", sh(1, "20:10"), "21:00"))
    await w.send(topics.ENROLLMENTS, enrollment("n2", "may", "MAY", sh(1, "20:10")))
    await w.send(topics.PREFERENCES, preference("n2", "may", sh(1, "20:11"), "21:30"))
    await w.send(topics.ENROLLMENTS, enrollment("n2", "ned", "NED", sh(1, "20:12")))
    await w.tick(sh(1, "20:29:59"))
    assert ("lee", 1) not in await w.decided()
    await w.tick(sh(1, "20:30"))
    await w.tick(sh(1, "21:00"))
    await w.tick(sh(1, "21:30"))
    await w.tick(sh(1, "21:59"))
    sent = [(m["student_id"], m["due_at"]) for m in await w.published(topics.NUDGES, 3)]
    assert sorted(sent) == [
        ("kim", "2026-11-20T12:00:00Z"),  # once that day, though kim chose a later time
        ("lee", "2026-11-20T12:30:00Z"),
        ("may", "2026-11-20T13:30:00Z"),
    ]  # ned enrolled after the cohort time and chose none: not reminded late


async def test_another_timezone(nudges: ServiceRuntime, bus: Bus, topic_settings: Settings) -> None:
    """A London camp: its days and reminder times are London's (GMT in November)."""
    w = World(bus, topic_settings, nudges)
    await w.send(
        topics.CAMPS, camp("uk", starts_on=DAY1, timezone="Europe/London", reminder="19:00")
    )
    await w.send(topics.ENROLLMENTS, enrollment("uk", "ann", "Ann", "2026-11-10T10:00:00Z"))
    await w.tick("2026-11-19T23:59:59Z")  # already the 20th in Shanghai: not day 1 in London
    assert await w.rows("SELECT * FROM nudges.rollovers") == []
    await w.tick("2026-11-20T00:00:00Z")
    await w.tick("2026-11-20T18:59:59Z")
    assert await w.decided() == {}
    await w.tick("2026-11-20T19:00:00Z")
    assert (await w.decided())[("ann", 1)][0] == "sent"
    [nudge] = await w.published(topics.NUDGES, 1)
    assert nudge["due_at"] == "2026-11-20T19:00:00Z"


async def test_a_camp_over_days_segments_caps_praise_and_welcome_back(
    nudges: ServiceRuntime, bus: Bus, topic_settings: Settings
) -> None:
    w = World(bus, topic_settings, nudges)
    await w.send(topics.CAMPS, camp("n3", starts_on=DAY1, reminder="20:00"))
    await w.send(
        topics.ENROLLMENTS,
        enrollment("n3", "liu", "刘洋", "2026-11-10T10:00:00+08:00"),
        enrollment("n3", "ma", "马丽", "2026-11-10T10:00:00+08:00"),
    )

    async def day(n: int) -> None:
        await w.tick(sh(n, "00:00:05"))

    await day(1)
    await w.send(
        topics.CHECKINS,
        checkin("n3", "liu", 1, occurred_at=sh(1, "09:00")),
        checkin("n3", "ma", 1, occurred_at=sh(1, "09:00")),
    )
    await w.tick(sh(1, "20:00"))
    for n in (2, 3):
        await day(n)
        await w.send(topics.CHECKINS, checkin("n3", "ma", n, occurred_at=sh(n, "09:00")))
        await w.tick(sh(n, "20:00"))
    # ma's work is reviewed excellent late on day 3: praised when the quiet hours end
    await w.send(topics.SUBMISSIONS, submission("n3", "ma", "w1", "水彩晚霞", sh(3, "21:00")))
    await w.send(topics.REVIEWS, review("n3", "ma", "w1", sh(3, "23:00"), score=97))
    await w.tick(sh(3, "23:30"))
    assert await w.decided("praise") == {}
    await day(4)
    await w.tick(sh(4, "08:00"))
    assert (await w.decided("praise"))[("ma", 3)][0] == "sent"
    await w.tick(sh(4, "20:00"))
    await day(5)
    await w.tick(sh(5, "20:00"))

    reminders = await w.decided()
    outcome = {k: v[1] if v[0] == "skipped" else "sent" for k, v in reminders.items()}
    assert {k[1]: v for k, v in outcome.items() if k[0] == "liu"} == {
        1: "checked_in",
        2: "active",
        3: "sent",  # slipping
        4: "sent",  # slipping
        5: "capped",  # lapsed now: at most one every 3 days
    }
    assert {k[1]: v for k, v in outcome.items() if k[0] == "ma"} == {
        1: "checked_in",
        2: "checked_in",
        3: "checked_in",
        4: "active",
        5: "sent",  # slipping after a day without a check-in
    }

    # liu comes back on day 6 (a duplicate delivery too): welcome back and a gift, once
    back = checkin("n3", "liu", 6, occurred_at=sh(6, "10:00"))
    await day(6)
    await w.send(topics.CHECKINS, back)
    await w.send(topics.CHECKINS, back)
    # a make-up check-in for day 5 makes liu active at once, and is the same lapse: no 2nd gift
    await w.send(topics.CHECKINS, checkin("n3", "liu", 5, occurred_at=sh(6, "10:05")))
    await w.tick(sh(6, "10:06"))
    gifts = await w.published(topics.GIFTS, 1)
    assert [(g["student_id"], g["gift_id"]) for g in gifts] == [("liu", "welcome-back")]
    welcomed = await w.decided("welcome_back")
    assert {k: v[0] for k, v in welcomed.items()} == {("liu", 6): "sent"}

    nudges_out = await w.published(topics.NUDGES, 5)
    praise = [m for m in nudges_out if m["kind"] == "praise"]
    assert len(praise) == 1 and praise[0]["segment"] == "active"
    assert "马丽" in praise[0]["message"] and "水彩晚霞" in praise[0]["message"]
    assert "97" in praise[0]["message"] and praise[0]["due_at"] == "2026-11-23T00:00:00Z"
    welcome = [m for m in nudges_out if m["kind"] == "welcome_back"]
    assert len(welcome) == 1 and "刘洋" in welcome[0]["message"]
    assert welcome[0]["segment"] == "lapsed"
    liu_texts = [m["template_id"] for m in nudges_out if m["student_id"] == "liu"]
    assert all(a != b for a, b in itertools.pairwise(liu_texts))

    moves = [
        (m["day"], m["previous"], m["segment"])
        for m in await w.published(topics.SEGMENTS, 7)
        if m["student_id"] == "liu"
    ]
    assert moves == [
        (1, None, "never"),
        (1, "never", "active"),
        (3, "active", "slipping"),
        (5, "slipping", "lapsed"),
        (6, "lapsed", "active"),  # the make-up check-in, at once
    ]
    samples = await w.metrics()
    assert total(samples, "gamify_gifts_total", gift="welcome-back") == 1
    assert (
        total(samples, "gamify_segment_moves_total", from_segment="slipping", to_segment="lapsed")
        == 1
    )


async def test_two_replicas_and_a_restart_send_each_reminder_once(
    bus: Bus, topic_settings: Settings
) -> None:
    first, second = create_app(topic_settings), create_app(topic_settings)
    await first.start()
    await second.start()
    w = World(bus, topic_settings, first, second)
    students = [f"s{i:02d}" for i in range(40)]
    try:
        await w.send(topics.CAMPS, camp("n4", starts_on=DAY1, reminder="20:00"))
        await w.send(
            topics.ENROLLMENTS,
            *(enrollment("n4", s, s, "2026-11-10T10:00:00+08:00") for s in students),
        )
        await w.tick(sh(1, "00:00:05"))
        await w.tick(sh(1, "20:00"))
        samples = await w.metrics()
        assert total(samples, "gamify_camp_day_rollovers_total") == 1
        assert total(samples, "gamify_nudges_sent_total", kind="reminder") == len(students)
    finally:
        await first.stop()
        await second.stop()

    again = create_app(topic_settings)
    await again.start()
    try:
        w.replicas = [again]
        await w.tick(sh(1, "20:05"))
        await w.tick(sh(1, "21:00"))
        sent = await w.published(topics.NUDGES, len(students))
        assert sorted(m["student_id"] for m in sent) == students
        assert len({m["event_id"] for m in sent}) == len(students)
        assert total(await w.metrics(), "gamify_nudges_sent_total") == 0
    finally:
        await again.stop()


async def test_make_up_check_ins_after_a_lapse_are_one_return(
    nudges: ServiceRuntime, bus: Bus, topic_settings: Settings
) -> None:
    """A student away since day 1 comes back on day 8 and makes up days 2, 3 and 4, one
    batch after another: one welcome-back and one gift, not one per make-up."""
    w = World(bus, topic_settings, nudges)
    await w.send(topics.CAMPS, camp("n9", starts_on=DAY1, reminder="20:00"))
    await w.send(topics.ENROLLMENTS, enrollment("n9", "zhao", "赵", "2026-11-10T10:00:00+08:00"))
    await w.tick(sh(1, "00:00:05"))
    await w.send(topics.CHECKINS, checkin("n9", "zhao", 1, occurred_at=sh(1, "09:00")))
    await w.tick(sh(8, "00:00:05"))
    for n, at in ((8, "10:00"), (2, "10:01"), (3, "10:02"), (4, "10:03")):
        await w.send(topics.CHECKINS, checkin("n9", "zhao", n, occurred_at=sh(8, at)))
        await w.tick(sh(8, at))
    await w.tick(sh(8, "10:10"))
    gifts = await w.published(topics.GIFTS, 1)
    assert [(g["student_id"], g["gift_id"]) for g in gifts] == [("zhao", "welcome-back")]
    assert {k: v[0] for k, v in (await w.decided("welcome_back")).items()} == {("zhao", 8): "sent"}
    samples = await w.metrics()
    assert total(samples, "gamify_gifts_total", gift="welcome-back") == 1
