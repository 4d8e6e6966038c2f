"""Wiring of the nudges service. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from services.nudges import api
from services.nudges.config import DEFAULT_NUDGES_FILE, NudgeBook
from services.nudges.handlers import INPUTS, NudgesHandler
from services.nudges.metrics import NudgesMetrics
from services.nudges.scheduler import Scheduler
from services.nudges.wecom import WeComForwarder
from shared.config import Watched
from shared.security import consumer_options
from shared.service import ServiceContext, ServiceRuntime, ServiceSpec
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


class _Parts:
    """The nudges file in force and the metrics, shared by the handler and the scheduler."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._watched: Watched[NudgeBook] | None = None
        self._metrics: NudgesMetrics | None = None

    def of(self, ctx: ServiceContext) -> tuple[Watched[NudgeBook], NudgesMetrics]:
        if self._watched is None or self._metrics is None:
            self._metrics = NudgesMetrics(ctx.metrics.registry)
            self._watched = Watched(
                self._path, NudgeBook, self._metrics.loaded, self._metrics.error
            )
        return self._watched, self._metrics


def create_app(settings: Settings) -> ServiceRuntime:
    parts = _Parts(settings.nudges_file or DEFAULT_NUDGES_FILE)

    def make_handler(ctx: ServiceContext) -> NudgesHandler:
        watched, metrics = parts.of(ctx)
        return NudgesHandler(watched.refresh, ctx.clock, metrics)

    def make_tasks(ctx: ServiceContext) -> Sequence[Coroutine[Any, Any, None]]:
        watched, metrics = parts.of(ctx)
        scheduler = Scheduler(
            ctx.pool,
            ctx.clock,
            watched.refresh,
            metrics,
            ctx.wake_relay,
            settings.scheduler_interval_s,
        )
        forwarder = WeComForwarder(
            settings.kafka_bootstrap,
            settings.topic_prefix,
            ctx.pool,
            watched.refresh,
            metrics,
            consumer_options(settings),
        )
        return [scheduler.run(), forwarder.run()]

    spec = ServiceSpec(
        name="nudges",
        inputs=INPUTS,
        migrations=MIGRATIONS,
        make_handler=make_handler,
        make_routes=api.routes,
        make_tasks=make_tasks,
    )
    return ServiceRuntime(spec, settings)
