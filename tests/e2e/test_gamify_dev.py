"""`gamify dev` as a person runs it: one command, a first event, Ctrl-C, and a second start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from shared.embedded import free_port, port_open
from tests.helpers import TEST_KAFKA, free_port_block, wait_for

ROOT = Path(__file__).resolve().parents[2]


def dev_env(kafka_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMIFY_")}
    env["GAMIFY_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{kafka_port}"
    return env


async def get_json(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def balance_is(port: int, expected: int) -> bool:
    try:
        status, body = await get_json(f"http://127.0.0.1:{port}/camps/c1/students/s1/balance")
    except aiohttp.ClientError:
        return False
    return status == 200 and body["balance"] == expected


@pytest.fixture
def ports() -> tuple[int, int]:
    return free_port(), free_port_block(4)


async def test_gamify_dev_runs_everything_stops_cleanly_and_keeps_the_database_when_asked(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    kafka_port, http_port = ports
    home = tmp_path / "home"
    cmd = [
        sys.executable,
        "-m",
        "gamify.cli",
        "dev",
        "--kafka-port",
        str(kafka_port),
        "--http-base-port",
        str(http_port),
        "--home",
        str(home),
        "--kafka",
        TEST_KAFKA,
    ]
    env = dev_env(kafka_port)

    log = tmp_path / "dev.log"
    dev = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        await wait_for(lambda: _ready(http_port), 60, "points ready under gamify dev")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "gamify.cli",
                "send",
                "camp.camps",
                '{"camp_id": "c1", "title": "写作营", "starts_on": "2026-11-20", "days": 21,'
                ' "timezone": "Asia/Shanghai", "lessons": 10, "cohort_reminder_time": "20:00"}',
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        sent = subprocess.run(
            [
                sys.executable,
                "-m",
                "gamify.cli",
                "send",
                "camp.checkins",
                '{"camp_id": "c1", "student_id": "s1", "day": 1}',
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert json.loads(sent.stdout)["event_id"]
        await wait_for(lambda: balance_is(http_port, 10), 20, "the check-in paid")
        tail = subprocess.run(
            [sys.executable, "-m", "gamify.cli", "tail", "gamify.points", "--wait", "1"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert json.loads(tail.stdout.splitlines()[0])["balance"] == 10
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=60)
    output = log.read_text()
    assert dev.returncode == 0, output
    assert "points on http://127.0.0.1" in output and "gamify dev: stopped" in output
    assert ("gamify dev: a fresh database in" in output) == (TEST_KAFKA == "embedded")
    assert not port_open(kafka_port) and not port_open(http_port)
    assert not (home / "pgdata" / "postmaster.pid").exists()

    # --keep-data: the ledger survives the restart, and the start says the topics do not.
    again = subprocess.Popen(
        [*cmd, "--keep-data"], env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    try:
        await wait_for(lambda: _ready(http_port), 60, "points ready on the second start")
        assert await balance_is(http_port, 10)
    finally:
        again.send_signal(signal.SIGINT)
        again.wait(timeout=60)
    output = log.read_text()
    assert again.returncode == 0, output
    if TEST_KAFKA == "embedded":
        assert "keeping the database in" in output and "topics start empty" in output
    else:
        assert "topics and tables go on from the last start" in output

    # By default the database starts as empty as the embedded broker's topics; Apache Kafka
    # keeps its log, and the database is kept with it.
    fresh = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        await wait_for(lambda: _ready(http_port), 60, "points ready on the third start")
        status, body = await get_json(f"http://127.0.0.1:{http_port}/camps/c1/students/s1/balance")
        if TEST_KAFKA == "embedded":
            assert (status, body) == (404, {"error": "camp 'c1' is not known"})
        else:
            assert (status, body["balance"]) == (200, 10)
            tail = subprocess.run(
                [sys.executable, "-m", "gamify.cli", "tail", "gamify.points", "--wait", "2"],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            assert json.loads(tail.stdout.splitlines()[0])["balance"] == 10  # the log kept
    finally:
        fresh.send_signal(signal.SIGINT)
        fresh.wait(timeout=60)
    assert fresh.returncode == 0, log.read_text()


async def _ready(port: int) -> bool:
    try:
        status, _ = await get_json(f"http://127.0.0.1:{port}/health/ready")
    except aiohttp.ClientError:
        return False
    return status == 200
