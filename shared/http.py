"""The HTTP side every service serves: /metrics, /health/live, /health/ready, plus its own
read API routes."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from shared.metrics import ServiceMetrics

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def json_response(
    data: Any, status: int = 200, content_type: str = "application/json"
) -> web.Response:
    """JSON with timestamps as RFC 3339 and non-ASCII text kept readable."""

    def default(value: object) -> str:
        if isinstance(value, datetime | date):
            return value.isoformat()
        raise TypeError(f"not JSON serialisable: {type(value).__name__}")

    body = json.dumps(data, default=default, ensure_ascii=False)
    return web.Response(text=body, status=status, content_type=content_type)


# For scrapers, probes and API clients; no per-student data there.
OPEN_PATHS = ("/metrics", "/health/", "/openapi.json")


def bearer_guard(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: the read API answers only requests carrying `Authorization: Bearer token`."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def guard(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if request.path.startswith(OPEN_PATHS):
            return await handler(request)
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response(
                {"error": "this endpoint needs the header 'Authorization: Bearer <token>'"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="gamify"'},
            )
        return await handler(request)

    return guard


def build_app(
    metrics: ServiceMetrics,
    ready: ReadinessCheck,
    routes: Sequence[web.RouteDef] = (),
    token: str | None = None,
    document: dict[str, Any] | None = None,
    with_metrics: bool = True,
) -> web.Application:
    """Health, the OpenAPI document and the read API `routes`, and /metrics unless it is
    served apart (metrics_app), so that a network policy can tell the scraper's port from the
    read API's."""

    async def live_view(_: web.Request) -> web.Response:
        return web.json_response({"status": "live", "service": metrics.service})

    async def ready_view(_: web.Request) -> web.Response:
        checks = await ready()
        ok = all(checks.values())
        metrics.up.labels(metrics.service).set(1 if ok else 0)
        body = {"status": "ready" if ok else "not ready", "service": metrics.service, **checks}
        return web.json_response(body, status=200 if ok else 503)

    async def openapi_view(_: web.Request) -> web.Response:
        return json_response(document or {})

    app = web.Application(middlewares=[bearer_guard(token)] if token else [])
    app.add_routes(
        [
            *([_metrics_route(metrics)] if with_metrics else []),
            web.get("/health/live", live_view),
            web.get("/health/ready", ready_view),
            web.get("/openapi.json", openapi_view),
            *routes,
        ]
    )
    return app


def _metrics_route(metrics: ServiceMetrics) -> web.RouteDef:
    async def metrics_view(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return web.get("/metrics", metrics_view)


def metrics_app(metrics: ServiceMetrics) -> web.Application:
    """/metrics alone, for a port of its own (GAMIFY_METRICS_PORT)."""
    app = web.Application()
    app.add_routes([_metrics_route(metrics)])
    return app


class HttpServer:
    """An aiohttp server with an explicit start/stop; port 0 picks a free port."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port
        self.port = port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        addresses = self._runner.addresses  # what the sites are bound to (port 0: the one chosen)
        if addresses:
            self.port = int(addresses[0][1])

    async def stop(self) -> None:
        await self._runner.cleanup()
