"""The README is executed: every shell command of its Quick start and Simulation sections runs,
as a person would paste it, against `gamify dev`, and what the README says they print is
checked. A `text` block after a `sh` block is that block's expected output: a JSON line must
match a printed JSON line on every field it names, any other line must appear in the output;
`...` stands for any text. A README change that breaks a command breaks this test."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.apache_kafka import CACHE
from shared.embedded import free_port
from tests.helpers import TEST_KAFKA, free_port_block, wait_for

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("## Quick start", "## Simulation and the growth report")
DEFAULT_PORTS = (9101, 9102, 9103, 9104)

pytestmark = pytest.mark.connected


def blocks(section: str) -> list[tuple[str, list[str]]]:
    """The section's fenced blocks in order: (language, lines)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(section + "\n")
    end = text.find("\n## ", start + len(section))
    body = text[start : end if end > 0 else len(text)]
    return [
        (lang, code.strip("\n").splitlines())
        for lang, code in re.findall(r"```(\w*)\n(.*?)```", body, re.S)
    ]


def steps() -> list[tuple[list[str], list[str]]]:
    """(commands, expected output lines) of every sh block of the sections."""
    out: list[tuple[list[str], list[str]]] = []
    for section in SECTIONS:
        for lang, lines in blocks(section):
            if lang == "sh":
                out.append((lines, []))
            elif lang == "text":
                assert out and not out[-1][1], f"a text block with no sh block before it: {lines}"
                out[-1][1].extend(lines)
    return out


def test_the_readme_sections_have_commands_and_outputs_to_check() -> None:
    found = steps()
    commands = [c for cmds, _ in found for c in cmds]
    assert any(c.startswith("gamify dev") for c in commands)
    assert any(c.startswith("gamify simulate") for c in commands)
    assert sum(1 for _, expected in found if expected) >= 4


def matches(expected: str, output: str) -> bool:
    try:
        wanted = json.loads(expected)
    except json.JSONDecodeError:
        wanted = None
    if isinstance(wanted, dict):
        return any(_json_subset(wanted, line) for line in output.splitlines())
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.search(pattern, output) is not None


def _json_subset(wanted: dict[str, Any], line: str) -> bool:
    try:
        got = json.loads(line)
    except json.JSONDecodeError:
        return False
    if not isinstance(got, dict):
        return False
    for key, value in wanted.items():
        if isinstance(value, str) and value.endswith("..."):
            if not str(got.get(key, "")).startswith(value[:-3]):
                return False
        elif got.get(key) != value:
            return False
    return True


def test_the_matching_rules() -> None:
    line = '{"a": 1, "b": "schema: day: bad", "c": [1]}'
    assert matches('{"a": 1, "b": "schema: ..."}', line)
    assert not matches('{"a": 2}', line)
    assert not matches('{"b": "json: ..."}', line)
    assert matches(
        "simulated 100 students x 7 days in ...", "simulated 100 students x 7 days in 9 s"
    )
    assert not matches("simulated 100 students", "simulated 10 students")


async def _all_ready(base: int) -> bool:
    try:
        async with aiohttp.ClientSession() as http:
            for port in range(base, base + 4):
                async with http.get(f"http://127.0.0.1:{port}/health/ready") as r:
                    if r.status != 200:
                        return False
    except aiohttp.ClientError:
        return False
    return True


async def test_every_readme_command_works_and_shows_what_the_readme_says(tmp_path: Path) -> None:
    kafka_port, http_base = free_port(), free_port_block(4)
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (work / "docs").symlink_to(ROOT / "docs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMIFY_")}
    env.update(
        HOME=str(home),
        GAMIFY_KAFKA_CACHE=str(CACHE),  # Apache Kafka's jars, fetched once, not per HOME
        GAMIFY_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka_port}",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    assert shutil.which("gamify", path=env["PATH"]), "the gamify command is not installed"

    def localised(command: str) -> str:
        for default, port in zip(DEFAULT_PORTS, range(http_base, http_base + 4), strict=True):
            command = command.replace(f"localhost:{default}", f"localhost:{port}")
        return command

    dev: subprocess.Popen[bytes] | None = None
    log = tmp_path / "dev.log"
    try:
        for commands, expected in steps():
            output = ""
            for command in commands:
                if command.startswith("python3 -m venv"):
                    # The install CI just did: the README must say the same.
                    install = command.split("pip install", 1)[1].strip()
                    assert install in (ROOT / ".ci/run").read_text(), install
                    continue
                if command == "gamify dev":
                    dev = subprocess.Popen(
                        [
                            *command.split(),
                            "--kafka-port",
                            str(kafka_port),
                            "--http-base-port",
                            str(http_base),
                            "--kafka",
                            TEST_KAFKA,
                        ],
                        env=env,
                        cwd=work,
                        stdout=log.open("w"),
                        stderr=subprocess.STDOUT,
                    )
                    await wait_for(lambda: _all_ready(http_base), 90, "gamify dev ready")
                    continue
                done = subprocess.run(
                    ["bash", "-c", localised(command)],
                    env=env,
                    cwd=work,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
                output += done.stdout
            for line in expected:
                assert matches(line, output), f"{commands}: {line!r} not in:\n{output[-3000:]}"
    finally:
        if dev is not None:
            dev.send_signal(signal.SIGINT)
            dev.wait(timeout=60)
    started = log.read_text()
    fresh = "a fresh database" if TEST_KAFKA == "embedded" else "go on from the last start"
    assert fresh in started, started
    assert dev is not None and dev.returncode == 0, started
