"""The points service's composition root. Nothing is built at import time."""

from __future__ import annotations

from pathlib import Path

from services.points import api
from services.points.config import DEFAULT_RULES_FILE, PointsRules
from services.points.handlers import INPUTS, PointsHandler
from services.points.metrics import PointsMetrics
from shared.config import Watched
from shared.service import ServiceContext, ServiceParts, ServiceRuntime, ServiceSpec
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(ctx: ServiceContext) -> ServiceParts:
    metrics = PointsMetrics(ctx.metrics.registry)
    path = ctx.settings.rules_file or DEFAULT_RULES_FILE
    rules = Watched(path, PointsRules, on_load=metrics.loaded, on_error=metrics.error)
    handler = PointsHandler(rules.refresh, metrics, ctx.settings.leave_max_days)
    return ServiceParts(handler, api.routes(ctx, handler.rules))


def create_app(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(ServiceSpec("points", INPUTS, MIGRATIONS, build), settings)
