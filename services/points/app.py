"""Wiring of the points service. Nothing is built at import time."""

from __future__ import annotations

from pathlib import Path

from services.points import api
from services.points.config import DEFAULT_RULES_FILE, PointsRules
from services.points.handlers import INPUTS, PointsHandler
from services.points.metrics import PointsMetrics
from shared.config import Watched
from shared.service import ServiceContext, ServiceRuntime, ServiceSpec
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def _make_handler(ctx: ServiceContext) -> PointsHandler:
    metrics = PointsMetrics(ctx.metrics.registry)
    watched = Watched(
        ctx.settings.rules_file or DEFAULT_RULES_FILE,
        PointsRules,
        on_load=metrics.rules_loaded,
        on_error=metrics.rules_error,
    )
    return PointsHandler(watched.refresh, metrics)


def create_app(settings: Settings) -> ServiceRuntime:
    spec = ServiceSpec(
        name="points",
        inputs=INPUTS,
        migrations=MIGRATIONS,
        make_handler=_make_handler,
        make_routes=api.routes,
    )
    return ServiceRuntime(spec, settings)
