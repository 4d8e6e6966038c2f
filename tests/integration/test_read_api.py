"""The read API at its edge, on every service: path and query values are validated (400 with
a reason, never a 500), an unknown camp is a 404 with the same body everywhere, and the
OpenAPI document each service serves is fuzzed by schemathesis with no server error."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared import topics
from shared.service import ServiceRuntime
from tests.helpers import Bus, camp, wait_for

pytestmark = pytest.mark.connected


async def get(port: int, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as r:
        body = await r.json(content_type=None) if r.content_type.endswith("json") else None
        return r.status, body


async def documents(services: list[ServiceRuntime]) -> dict[str, tuple[int, dict[str, Any]]]:
    out = {}
    for r in services:
        status, doc = await get(r.http_port, "/openapi.json")
        assert status == 200 and doc["openapi"].startswith("3.")
        out[r.spec.name] = (r.http_port, doc)
    return out


def concrete(path: str, camp_id: str, **values: str) -> str:
    fill = {"camp_id": camp_id, "student_id": "stu", "badge_id": "streak-7", "week": "1", **values}
    for name, value in fill.items():
        path = path.replace("{" + name + "}", value)
    return path


async def test_every_route_refuses_bad_values_and_unknown_camps_alike(
    all_services: list[ServiceRuntime], bus: Bus
) -> None:
    await bus.send(topics.CAMPS, camp("known"))
    docs = await documents(all_services)
    routes = [
        (service, port, path)
        for service, (port, doc) in docs.items()
        for path in doc["paths"]
        if "{camp_id}" in path
    ]
    assert {s for s, _, _ in routes} == {"points", "badges", "nudges", "contests"}

    async def known_everywhere() -> bool:
        for _, port, path in routes:
            if "contests/" in path or "credential" in path:
                continue
            if (await get(port, concrete(path, "known")))[0] != 200:
                return False
        return True

    await wait_for(known_everywhere, what="the camp known to every service")
    for service, port, path in routes:
        where = f"{service} {path}"
        status, body = await get(port, concrete(path, "nowhere"))
        assert (status, body) == (404, {"error": "camp 'nowhere' is not known"}), where
        status, body = await get(port, concrete(path, "bad%00camp"))
        assert status == 400 and body["error"] == "camp_id must not contain NUL", where
        status, body = await get(port, concrete(path, "known", student_id="s%00"))
        if "{student_id}" in path:
            assert status == 400 and "student_id" in body["error"], where
        status, body = await get(port, concrete(path, "x" * 129))
        assert status == 400 and "1 to 128 characters" in body["error"], where

    port = docs["contests"][0]
    status, body = await get(port, "/camps/known/contests/first")
    assert status == 400 and body["error"] == "week must be a whole number from 1 to 53"
    status, body = await get(port, "/camps/known/contests/9")  # a 21-day camp has 3 weeks
    assert (status, body) == (404, {"error": "camp known has weeks 1..3"})
    points = docs["points"][0]
    assert (await get(points, "/students/stu/history?camp=a%00"))[0] == 400
    assert (await get(points, "/students/stu/history?camp=nowhere"))[0] == 404
    assert (await get(points, "/students/stu/history?camp=known"))[0] == 200
    assert (await get(points, "/camps/known/leaderboard?top=x"))[0] == 400


SCHEMATHESIS = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")


async def test_schemathesis_finds_no_server_error_in_any_service(
    all_services: list[ServiceRuntime], bus: Bus, tmp_path: Path
) -> None:
    await bus.send(topics.CAMPS, camp("known"))
    docs = await documents(all_services)
    for service, (port, _) in docs.items():
        proc = await asyncio.create_subprocess_exec(
            SCHEMATHESIS,
            "run",
            f"http://127.0.0.1:{port}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "negative_data_rejection",
            "--max-examples",
            "40",
            "--seed",
            "7",
            "--generation-allow-x00",
            "true",
            "--exclude-path",
            "/metrics",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
        )
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        assert proc.returncode == 0, f"{service}:\n{text[-6000:]}"
        assert "passed" in text, text[-2000:]
