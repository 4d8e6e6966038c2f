"""The points read side on the real broker and PostgreSQL: leaderboards, history, balances
and the explanation of a balance, all answered from the ledger."""

from __future__ import annotations

from typing import Any

import aiohttp

from services.points.explain import explain
from shared import topics
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, settled
from tests.integration.points_live import event


async def test_read_side_and_explain_answer_from_the_ledger(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("c6"))
    for student, days in (("ann", 3), ("bob", 1), ("cat", 2)):
        for day in range(1, days + 1):
            await bus.send(topics.CHECKINS, checkin("c6", student, day))
    await settled(points, 7)
    base = f"http://127.0.0.1:{points.http_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/camps/c6/leaderboard?top=2") as resp:
            board = await resp.json()
        async with http.get(f"{base}/students/ann/history?camp=c6") as resp:
            history = await resp.json()
        async with http.get(f"{base}/camps/c6/students/cat/balance") as resp:
            balance = await resp.json()
        async with http.get(f"{base}/camps/c6/leaderboard?top=0") as resp:
            assert resp.status == 400
    assert board["leaderboard"] == [
        {"rank": 1, "student_id": "ann", "display_name": None, "points": 30},
        {"rank": 2, "student_id": "cat", "display_name": None, "points": 20},
    ]
    assert [(e["cause"], e["balance_after"]) for e in history["entries"]] == [
        ("day:1", 10),
        ("day:2", 20),
        ("day:3", 30),
    ]
    assert balance["balance"] == 20

    text = await explain(settings.database_url, "ann", "c6")
    assert text.startswith("ann in camp c6: balance 30")
    assert "checkin 3x = +30; total 30" in text
    assert "contract-defaults-1" in text
    # Times are the camp's local times, and the account says which zone they are in.
    assert "times in Asia/Shanghai" in text
    assert "2026-11-22 20:05" in text


async def test_leaderboards_rank_by_points_earned_weekly_and_around_a_student(
    points: ServiceRuntime, bus: Bus, settings: Settings
) -> None:
    await bus.send(topics.CAMPS, camp("lb"))
    names = {"ann": "安安", "bob": "Bob", "cat": "Cat", "dan": "Dan"}
    for student, name in names.items():
        await bus.send(
            topics.ENROLLMENTS,
            event(camp_id="lb", student_id=student, display_name=name),
        )
    # week 1: ann 3 days, bob 2, cat 2; week 2 (day 8): dan 1 and cat 1
    plan = {"ann": [1, 2, 3], "bob": [1, 2], "cat": [1, 2, 8], "dan": [8]}
    for student, days in plan.items():
        for day in days:
            await bus.send(topics.CHECKINS, checkin("lb", student, day))
    # ann spends 20 of her 30: her balance drops, her rank does not
    await bus.send(
        topics.REDEMPTIONS,
        event(camp_id="lb", student_id="ann", request_id="r1", item_id="mug", cost=20),
    )
    await settled(points, 1 + 4 + 8 + 1)
    base = f"http://127.0.0.1:{points.http_port}"

    async def get(path: str) -> Any:
        async with aiohttp.ClientSession() as http, http.get(base + path) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    board = (await get("/camps/lb/leaderboard"))["leaderboard"]
    assert [(r["rank"], r["student_id"], r["display_name"], r["points"]) for r in board] == [
        (1, "ann", "安安", 30),  # earned 30, holds 10 after the redemption
        (1, "cat", "Cat", 30),  # equal totals share a rank
        (3, "bob", "Bob", 20),
        (4, "dan", "Dan", 10),
    ]
    weekly = (await get("/camps/lb/weeks/1/leaderboard"))["leaderboard"]
    assert [(r["rank"], r["student_id"], r["points"]) for r in weekly] == [
        (1, "ann", 30),
        (2, "bob", 20),
        (2, "cat", 20),  # equal totals share a rank
    ]
    week2 = (await get("/camps/lb/weeks/2/leaderboard"))["leaderboard"]
    assert [(r["rank"], r["student_id"], r["points"]) for r in week2] == [
        (1, "cat", 10),
        (1, "dan", 10),
    ]
    hidden = (await get("/camps/lb/weeks/1/leaderboard?names=hide"))["leaderboard"]
    assert hidden == [
        {"rank": 1, "points": 30},
        {"rank": 2, "points": 20},
        {"rank": 2, "points": 20},
    ]
    place = await get("/camps/lb/students/bob/rank?week=1&around=1&names=hide")
    assert (place["rank"], place["points"]) == (2, 20)
    assert place["above"] == [{"rank": 1, "points": 30}]
    assert place["below"] == [{"rank": 2, "points": 20}]
    nobody = await get("/camps/lb/students/zed/rank")
    assert (nobody["rank"], nobody["points"]) == (None, 0)
