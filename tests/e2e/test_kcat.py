"""A real client none of us wrote: Debian's kcat (librdkafka) produces a camp's events to
`gamify dev --kafka apache` and reads what the services made of them. The embedded broker
cannot serve it (librdkafka misreads its ApiVersions answer), so this runs on Apache Kafka."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared.apache_kafka import CACHE
from shared.embedded import free_port
from tests.helpers import TEST_KAFKA, free_port_block, wait_for

ROOT = Path(__file__).resolve().parents[2]
KCAT = shutil.which("kcat") or shutil.which("kafkacat")

pytestmark = [
    pytest.mark.connected,
    pytest.mark.skipif(TEST_KAFKA != "apache", reason="kcat needs Apache Kafka (the apache run)"),
]


def kcat(*args: str, data: str | None = None) -> str:
    assert KCAT is not None, "kcat is not installed (Debian package kafkacat)"
    done = subprocess.run(
        [KCAT, *args], input=data, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_kcat_produces_a_camp_and_reads_the_services_outputs(tmp_path: Path) -> None:
    kafka_port, http_base = free_port(), free_port_block(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMIFY_")}
    env["HOME"] = str(tmp_path)
    env["GAMIFY_KAFKA_CACHE"] = str(CACHE)  # the jars fetched once, not again per HOME
    dev = subprocess.Popen(
        [
            *(sys.executable, "-m", "gamify.cli", "dev", "--kafka", "apache"),
            *("--kafka-port", str(kafka_port), "--http-base-port", str(http_base)),
        ],
        env=env,
        cwd=ROOT,
        stdout=(tmp_path / "dev.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    broker = f"127.0.0.1:{kafka_port}"
    try:

        async def ready() -> bool:
            return "gamify dev: running" in (tmp_path / "dev.log").read_text()

        await wait_for(ready, 120, "gamify dev --kafka apache running")
        camp = {
            "event_id": "kc-camp",
            "occurred_at": "2026-11-01T00:00:00+08:00",
            "camp_id": "kc",
            "title": "kcat camp",
            "starts_on": "2026-11-20",
            "days": 21,
            "timezone": "Asia/Shanghai",
            "lessons": 10,
            "cohort_reminder_time": "20:00",
        }
        kcat("-P", "-b", broker, "-t", "camp.camps", "-K", "\t", data=f"kc\t{json.dumps(camp)}\n")
        lines = [
            "s1\t"
            + json.dumps(
                {
                    "event_id": f"kc-{day}",
                    "occurred_at": f"2026-11-{19 + day}T09:00:00+08:00",
                    "camp_id": "kc",
                    "student_id": "s1",
                    "day": day,
                }
            )
            for day in range(1, 8)
        ]
        kcat("-P", "-b", broker, "-t", "camp.checkins", "-K", "\t", data="\n".join(lines) + "\n")

        def points() -> list[tuple[str, dict[str, object]]]:
            out = kcat("-C", "-b", broker, "-t", "gamify.points", "-e", "-q", "-f", "%k\t%s\n")
            return [
                (key, json.loads(value))
                for key, _, value in (line.partition("\t") for line in out.splitlines() if line)
            ]

        async def paid() -> bool:
            return len(points()) >= 8

        await wait_for(paid, 60, "seven check-ins and a streak bonus on gamify.points")
        got = points()
        assert {k for k, _ in got} == {"s1"}  # keyed by student, as the contract says
        assert sorted(str(p["rule_id"]) for _, p in got) == ["checkin"] * 7 + ["streak"]
        assert max(int(str(p["balance"])) for _, p in got) == 120
        badges = kcat("-C", "-b", broker, "-t", "gamify.badges", "-e", "-q", "-f", "%s\n")
        assert "streak-7" in badges
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=90)
    assert dev.returncode == 0, (tmp_path / "dev.log").read_text()
