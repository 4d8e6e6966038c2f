"""Wiring of the contests service. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from services.contests import api
from services.contests.closer import Closer
from services.contests.config import DEFAULT_CONTESTS_FILE, ContestBook
from services.contests.handlers import INPUTS, ContestsHandler
from services.contests.metrics import ContestsMetrics
from shared.config import Watched
from shared.service import ServiceContext, ServiceRuntime, ServiceSpec
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


class _Parts:
    """The contests file in force and the metrics, shared by the handler, closer and API."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._watched: Watched[ContestBook] | None = None
        self._metrics: ContestsMetrics | None = None

    def of(self, ctx: ServiceContext) -> tuple[Watched[ContestBook], ContestsMetrics]:
        if self._watched is None or self._metrics is None:
            self._metrics = ContestsMetrics(ctx.metrics.registry)
            self._watched = Watched(
                self._path, ContestBook, self._metrics.loaded, self._metrics.error
            )
        return self._watched, self._metrics


def create_app(settings: Settings) -> ServiceRuntime:
    parts = _Parts(settings.contests_file or DEFAULT_CONTESTS_FILE)

    def make_handler(ctx: ServiceContext) -> ContestsHandler:
        return ContestsHandler(parts.of(ctx)[1])

    def make_tasks(ctx: ServiceContext) -> Sequence[Coroutine[Any, Any, None]]:
        watched, metrics = parts.of(ctx)
        closer = Closer(
            ctx.pool,
            ctx.clock,
            watched.refresh,
            metrics,
            ctx.wake_relay,
            settings.scheduler_interval_s,
            settings.fault,
        )
        return [closer.run()]

    spec = ServiceSpec(
        name="contests",
        inputs=INPUTS,
        migrations=MIGRATIONS,
        make_handler=make_handler,
        make_routes=lambda ctx: api.routes(ctx, parts.of(ctx)[0].refresh),
        make_tasks=make_tasks,
    )
    return ServiceRuntime(spec, settings)
