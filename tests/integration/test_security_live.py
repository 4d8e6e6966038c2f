"""Security of a running service: the read API wants its bearer token (probes and the scraper
do not), and no secret from the settings ever reaches the logs or the metrics."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from shared import topics
from shared.embedded import free_port
from shared.settings import Settings
from tests.helpers import Bus, camp, checkin, new_id, processed, wait_for
from tests.services import ServiceProcess

TOKEN = "tok-8f3e2a91c4"
DB_PASSWORD = "pg-hunter2-secret"
SASL_PASSWORD = "sasl-never-shown"


async def get(port: int, path: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}", headers=headers) as resp,
    ):
        return resp.status, await resp.text()


async def test_the_read_api_wants_the_token_and_no_secret_is_ever_logged(
    settings: Settings, bus: Bus, tmp_path: Path
) -> None:
    url = settings.database_url.replace("postgres:@", "postgres@", 1).replace(
        "postgres@", f"postgres:{DB_PASSWORD}@", 1
    )
    assert DB_PASSWORD in url  # trust auth: the server ignores it, the service must hide it
    log = tmp_path / "points.log"
    service = ServiceProcess(
        "points",
        settings,
        log,
        GAMIFY_DATABASE_URL=url,
        GAMIFY_DATABASE_PASSWORD=DB_PASSWORD,
        GAMIFY_HTTP_TOKEN=TOKEN,
        GAMIFY_KAFKA_SASL_USERNAME="gamify",
        GAMIFY_KAFKA_SASL_PASSWORD=SASL_PASSWORD,  # set, though the protocol stays PLAINTEXT
        GAMIFY_LOG_LEVEL="DEBUG",
    ).start()
    try:
        await service.ready()
        c = "sec"
        await bus.send(topics.CAMPS, camp(c))
        paid = checkin(c, "amy", 1, occurred_at="2026-11-20T20:00:00+08:00")
        await bus.send(topics.CHECKINS, paid)
        await bus.send(topics.CHECKINS, b'{"event_id": "broken', key="amy")
        await bus.send(topics.CHECKINS, {**checkin(c, "amy", 99), "event_id": new_id()})
        await wait_for(
            lambda: processed(settings.database_url, "points", [paid["event_id"]]),
            what="the check-in paid",
        )
        path = f"/camps/{c}/students/amy/balance"
        assert (await get(service.port, path))[0] == 401
        assert (await get(service.port, path, "tok-wrong"))[0] == 401
        status, body = await get(service.port, path, TOKEN)
        assert status == 200 and '"balance": 10' in body
        for open_path in ("/metrics", "/health/live", "/health/ready"):
            status, body = await get(service.port, open_path)
            assert status == 200, open_path
            assert TOKEN not in body and DB_PASSWORD not in body
        await bus.read(topics.DLQ, until=lambda m: len(m) >= 2)
    finally:
        service.stop()
    text = log.read_text()
    assert "dead-lettered" in text and "started" in text  # the log did record the run
    for secret in (TOKEN, DB_PASSWORD, SASL_PASSWORD):
        assert secret not in text, f"{secret} leaked into the log"


async def test_a_service_beyond_loopback_needs_a_token_and_metrics_can_have_their_own_port(
    settings: Settings, tmp_path: Path
) -> None:
    refused = ServiceProcess("points", settings, tmp_path / "open.log", GAMIFY_HTTP_HOST="0.0.0.0")
    refused.start()
    assert refused.proc is not None and refused.proc.wait(30) != 0
    assert "GAMIFY_HTTP_TOKEN" in (tmp_path / "open.log").read_text()

    metrics_port = free_port()
    service = ServiceProcess(
        "points",
        settings,
        tmp_path / "points.log",
        GAMIFY_HTTP_HOST="0.0.0.0",
        GAMIFY_HTTP_TOKEN=TOKEN,
        GAMIFY_METRICS_PORT=str(metrics_port),
    ).start()
    try:
        await service.ready()
        assert (await get(metrics_port, "/metrics"))[0] == 200
        assert (await get(metrics_port, "/camps/x/leaderboard", TOKEN))[0] == 404
        assert (await get(service.port, "/metrics"))[0] == 404  # not beside the read API
        assert (await get(service.port, "/health/ready"))[0] == 200  # probes stay
    finally:
        service.stop()
