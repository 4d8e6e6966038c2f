"""The dashboards and alerts against a real Prometheus: the four services run on the real
broker and database, a camp's worth of traffic goes through them, Prometheus scrapes them, and
every query of every dashboard panel returns data; the alert rules load and evaluate."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from shared import topics
from shared.embedded import free_port
from shared.service import ServiceRuntime
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, new_id, processed, send_tick, wait_for

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="no prometheus binary (Debian package prometheus)"
)


def _inputs() -> dict[str, list[str]]:
    from services.badges.handlers import INPUTS as badges
    from services.contests.handlers import INPUTS as contests
    from services.nudges.handlers import INPUTS as nudges
    from services.points.handlers import INPUTS as points

    return {"points": points, "badges": badges, "nudges": nudges, "contests": contests}


INPUTS = _inputs()


def at(day: int, hhmm: str) -> str:
    return f"2026-11-{19 + day:02d}T{hhmm}:00+08:00"


def event(topic_fields: dict[str, Any], when: str) -> dict[str, Any]:
    return {"event_id": new_id(), "occurred_at": when, **topic_fields}


async def play_a_camp(bus: Bus, settings: Settings) -> None:
    """Enough of a camp that every panel has something to show."""
    c = "obs"
    students = ["s1", "s2", "s3", "s4", "s5"]
    sent: list[tuple[str, dict[str, Any]]] = []

    async def send(topic: str, *events: dict[str, Any]) -> None:
        for e in events:
            await bus.send(topic, e)
            sent.append((topic, e))

    async def settle() -> None:
        """Wait until each service has taken in every event of its topics sent so far."""
        for schema, inputs in INPUTS.items():
            ids = [e["event_id"] for t, e in sent if t in inputs]
            await wait_for(
                lambda s=schema, i=ids: processed(settings.database_url, s, i),  # type: ignore[misc]
                what=f"{schema} caught up",
            )

    await send(
        topics.CAMPS,
        camp(c, starts_on="2026-11-20", days=14, lessons=1, assignments=[("a1", "challenge", 1)]),
    )
    await send(
        topics.ENROLLMENTS,
        *(
            event({"camp_id": c, "student_id": s, "display_name": s}, at(1, "00:00"))
            for s in students
        ),
    )
    await send_tick(bus, at(1, "00:01"))
    await settle()
    await asyncio.sleep(2)  # scraped with the camp's series at 0, before anything happens
    await send(
        topics.CHECKINS, *(checkin(c, s, 1, occurred_at=at(1, "09:00")) for s in students[:4])
    )
    work = {
        "camp_id": c,
        "student_id": "s1",
        "submission_id": "w1",
        "assignment_id": "a1",
        "tier": "challenge",
        "title": "晚霞",
        "url": "https://example.org/w1",
        "contest_entry": True,
    }
    await send(topics.SUBMISSIONS, event(work, at(1, "10:00")))
    await send(
        topics.SUBMISSIONS,
        event({**work, "student_id": "s2", "submission_id": "w2"}, at(1, "10:05")),
    )
    await send(
        topics.REVIEWS,
        event(
            {
                "camp_id": c,
                "student_id": "s1",
                "submission_id": "w1",
                "reviewer_id": "t",
                "score": 95,
                "excellent": True,
            },
            at(1, "11:00"),
        ),
    )
    await send(
        topics.SHARES,
        event({"camp_id": c, "student_id": "s1", "submission_id": "w1"}, at(1, "11:05")),
    )
    await send(
        topics.LESSONS,
        event(
            {
                "camp_id": c,
                "student_id": "s1",
                "lesson_id": "l1",
                "watched_seconds": 600,
                "duration_seconds": 600,
            },
            at(1, "12:00"),
        ),
    )
    await send(
        topics.VOTES, event({"camp_id": c, "voter_id": "s3", "submission_id": "w1"}, at(1, "13:00"))
    )
    for request, cost in (("r1", 5), ("r2", 10_000)):
        await send(
            topics.REDEMPTIONS,
            event(
                {
                    "camp_id": c,
                    "student_id": "s1",
                    "request_id": request,
                    "item_id": "sticker",
                    "cost": cost,
                },
                at(1, "14:00"),
            ),
        )
    question = {"camp_id": c, "student_id": "s3", "question_id": "q1", "category": "howto"}
    await send(topics.QUESTIONS, event(question, at(1, "15:00")))
    await send(topics.QUESTIONS, event({**question, "question_id": "q2"}, at(1, "15:10")))
    answer = {"answerer_id": "t", "answerer_role": "assistant"}
    await send(topics.ANSWERS, event({**question, **answer}, at(1, "16:30")))
    await bus.send(topics.CHECKINS, b"{not json", key="s9")  # a dead letter
    await settle()
    await send_tick(bus, at(1, "20:00"))  # s5 (never) is reminded
    await bus.read(topics.NUDGES, until=lambda m: any(n["kind"] == "reminder" for n in m))
    for day in (2, 3, 4, 5):
        await send_tick(bus, at(day, "00:01"))
        await asyncio.sleep(0.5)
    await send(topics.CHECKINS, checkin(c, "s4", 5, occurred_at=at(5, "09:00")))  # welcome back
    await settle()
    await send_tick(bus, at(8, "00:01"))  # contest week 1 closes, prizes are paid
    await bus.read(topics.CONTESTS, until=lambda m: len(m) >= 1)


def dashboard_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((ROOT / "deploy/grafana/dashboards").glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):  # a row has none
                out.append((path.stem, panel["title"], target["expr"]))
    return out


async def query(port: int, expr: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": expr}) as r,
    ):
        body = await r.json()
    assert body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


async def test_every_dashboard_query_returns_data_from_a_real_prometheus(
    all_services: list[ServiceRuntime], bus: Bus, settings: Settings, tmp_path: Path
) -> None:
    assert PROMETHEUS is not None
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "deploy/prometheus/alerts.yml")],
        "scrape_configs": [
            {
                "job_name": "gamify",
                "static_configs": [{"targets": [f"127.0.0.1:{r.http_port}" for r in all_services]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    prometheus = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        async def all_scraped() -> bool:
            try:
                up = await query(port, 'up{job="gamify"} == 1')
            except aiohttp.ClientError:
                return False
            return len(up) == 4

        await wait_for(all_scraped, timeout=30, what="prometheus scraping the four services")
        await play_a_camp(bus, settings)
        await asyncio.sleep(4)  # a few scrapes after the camp's last events, for rate()

        empty = []
        queries = dashboard_queries()
        for board, title, expr in queries:
            concrete = expr.replace("$__rate_interval", "1m")
            if not await query(port, concrete):
                empty.append(f"{board} / {title}: {expr}")
        assert not empty, "panels without data:\n" + "\n".join(empty)
        assert len(queries) >= 30

        # The first event of each label after a start shows in increase(): its series existed
        # at 0 before it (one redemption of each status, one vote while the week was open).
        for first in (
            'gamify_points_redemptions_total{status="accepted"}',
            'gamify_points_redemptions_total{status="rejected"}',
            "gamify_contest_votes_cast_total",
            'gamify_badges_awarded_total{badge="first-excellent"}',
            'gamify_nudges_sent_total{kind="welcome_back"}',
            "gamify_review_wait_seconds_count",
            "gamify_answer_wait_seconds_count",
        ):
            seen = await query(port, f"sum(increase({first}[5m]))")
            assert seen and float(seen[0]["value"][1]) >= 0.9, (first, seen)

        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/api/v1/rules") as r,
        ):
            rules = (await r.json())["data"]["groups"][0]["rules"]
        assert len(rules) == 10 and all(rule["health"] == "ok" for rule in rules)
        firing = {a["labels"]["alertname"] for a in await _alerts(port)}
        assert "GamifyDeadLetters" in firing  # the dead letter above, on a real evaluation
        # w2 (day 1) unreviewed and q2 (day 1) unanswered by day 8: both queues are overdue,
        # pending their 10 minutes (the wait is the simulated clock's, the 10 minutes real)
        loop = {"GamifyReviewsWaiting", "GamifyQuestionsWaiting"}

        async def loop_alerts() -> bool:
            return loop <= {a["labels"]["alertname"] for a in await _alert_list(port)}

        await wait_for(loop_alerts, timeout=30, what="the learning loop's alerts")
        assert "GamifyServiceDown" not in firing
        assert "GamifyWeComDeliveriesFailing" not in firing
    finally:
        prometheus.terminate()
        prometheus.wait(10)


async def _alerts(port: int) -> list[dict[str, Any]]:
    async def fired() -> bool:
        return bool(await _alert_list(port))

    await wait_for(fired, timeout=20, what="the dead-letter alert")
    return await _alert_list(port)


async def _alert_list(port: int) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/api/v1/alerts") as r,
    ):
        return list((await r.json())["data"]["alerts"])
