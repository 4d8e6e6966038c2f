"""Points rules changed while the service runs: reloaded mid-stream (a bad file keeps the old
rules), a milestone added mid-camp, streak freezes earned or bought."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from shared import topics
from shared.camp_days import camp_day
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, metric, new_id, scrape, settled
from tests.integration.points_live import change_rules, ledger, points_with_rules


async def test_rules_reloaded_mid_stream_and_a_bad_file_keeps_the_old_rules(
    settings: Settings, bus: Bus, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules_file = tmp_path / "rules.yaml"
    v1 = 'version: "v1"\ncheckin:\n  points: 10\n'
    async with points_with_rules(settings, rules_file, v1) as runtime:
        await bus.send(topics.CAMPS, camp("c5"))
        await bus.send(topics.CHECKINS, checkin("c5", "s1", 1))
        await settled(runtime, 2)

        change_rules(rules_file, 'version: "v2"\ncheckin:\n  points: 15\n', 1_000)
        await bus.send(topics.CHECKINS, checkin("c5", "s1", 2))
        await settled(runtime, 3)

        change_rules(rules_file, 'version: "v3"\ncheckin:\n  points: many\n', 2_000)
        await bus.send(topics.CHECKINS, checkin("c5", "s1", 3))
        await settled(runtime, 4)

        entries = await ledger(settings)
        assert [(e["delta"], e["rules_version"].split("@")[0]) for e in entries] == [
            (10, "v1"),
            (15, "v2"),
            (15, "v2"),
        ]
        v2 = entries[-1]["rules_version"]  # the label, then the content's digest
        assert v2.startswith("v2@") and len(v2) == len("v2@") + 12
        samples = await scrape(runtime.http_port)
        assert metric(samples, "gamify_points_rules_version", version=v2) == 1
        assert (
            metric(samples, "gamify_points_rules_version", version=entries[0]["rules_version"]) == 0
        )
        assert metric(samples, "gamify_points_rules_rejected_total") == 1
        assert any(
            "rejected changed configuration" in r.message and "checkin.points" in r.message
            for r in caplog.records
        )


async def test_a_streak_milestone_added_mid_camp_pays_runs_that_had_passed_it(
    settings: Settings, bus: Bus, tmp_path: Path
) -> None:
    """A check-in proposes only the milestones its day newly reaches, unless the milestones
    changed since the student's calendar was last written: then every reached one again."""
    rules_file = tmp_path / "rules.yaml"
    v1 = 'version: "v1"\nstreak:\n  milestones: [3]\n'
    async with points_with_rules(settings, rules_file, v1) as runtime:
        await bus.send(topics.CAMPS, camp("c6"))
        await settled(runtime, 1)
        for day in range(1, 6):
            await bus.send(topics.CHECKINS, checkin("c6", "s1", day))
            await settled(runtime, 1 + day)

        change_rules(rules_file, 'version: "v2"\nstreak:\n  milestones: [3, 4]\n', 1_000)
        await bus.send(topics.CHECKINS, checkin("c6", "s1", 6))
        await settled(runtime, 7)
        await bus.send(topics.CHECKINS, checkin("c6", "s1", 7))
        await settled(runtime, 8)

        streaks = [
            (e["cause"], e["rules_version"].split("@")[0])
            for e in await ledger(settings)
            if e["rule_id"] == "streak"
        ]
        assert streaks == [("run:3", "v1"), ("run:4", "v2")]
        conn = await asyncpg.connect(settings.database_url)
        try:
            noted = await conn.fetchval(
                "SELECT streak_rules FROM points.checkin_calendar WHERE camp_id = 'c6'"
            )
        finally:
            await conn.close()
        assert noted == "3,4"


FREEZES = """
version: "freezes"
camps:
  fz-earn:
    streak: {freeze: {enabled: true, earn_every_days: 3, max_held: 2}}
  fz-buy:
    streak: {freeze: {enabled: true, earn_every_days: 0, item_id: streak-freeze}}
"""


async def test_a_streak_freeze_earned_or_bought_holds_the_run(
    settings: Settings, bus: Bus, tmp_path: Path
) -> None:
    async with points_with_rules(settings, tmp_path / "rules.yaml", FREEZES) as runtime:
        days = [1, 2, 3, 5, 6, 7, 8]  # day 4 missed: runs of 3 and 4 without a freeze
        sent = 0
        for c in ("fz-earn", "fz-buy", "fz-none"):
            await bus.send(topics.CAMPS, camp(c, starts_on="2026-11-20"))
            for d in days:
                await bus.send(topics.CHECKINS, checkin(c, "ann", d))
            sent += 1 + len(days)
        await settled(runtime, sent)

        def streaks(entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
            return {(e["camp_id"], e["cause"]) for e in entries if e["rule_id"] == "streak"}

        # earned with the first 3 days, used on day 4: 1-3 + 5-8 is a run of 7
        assert streaks(await ledger(settings, "ann")) == {("fz-earn", "run:7")}
        # bought on day 2 (after the check-ins arrived): the run completes then
        await bus.send(
            topics.REDEMPTIONS,
            {
                "event_id": new_id(),
                "occurred_at": "2026-11-21T12:00:00+08:00",
                "camp_id": "fz-buy",
                "student_id": "ann",
                "request_id": "freeze-1",
                "item_id": "streak-freeze",
                "cost": 10,
            },
        )
        await settled(runtime, sent + 1)
        entries = await ledger(settings, "ann")
        assert streaks(entries) == {("fz-earn", "run:7"), ("fz-buy", "run:7")}
        bought = [e for e in entries if e["rule_id"] == "redemption"]
        assert [(e["camp_id"], e["delta"]) for e in bought] == [("fz-buy", -10)]
        # the read API, as of today (the wall clock: camp day 10 or later, whichever day the
        # test runs): the run held on day 4; the freeze earned on day 6 went on day 9, and the
        # run broke on day 10
        port = runtime.http_port
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/camps/fz-earn/students/ann/streak"
            async with http.get(url) as r:
                view = await r.json()
            async with http.get(url.replace("fz-earn", "fz-none")) as r:
                plain = await r.json()
        today = camp_day(date(2026, 11, 20), "Asia/Shanghai", datetime.now(UTC))
        assert view["day"] == min(today, 21) >= 10
        assert view["longest_run"] == 7 and view["current_run"] == 0
        assert view["freezes"] == {
            "enabled": True,
            "held": 0,
            "earned": 2,
            "bought": 0,
            "used_on": [4, 9],
        }
        assert plain["longest_run"] == 4 and plain["freezes"]["enabled"] is False
