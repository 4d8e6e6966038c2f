"""The badges service's composition root. Nothing is built at import time."""

from __future__ import annotations

from pathlib import Path

from services.badges import api
from services.badges.config import DEFAULT_BADGES_FILE, BadgeBook
from services.badges.handlers import INPUTS, BadgesHandler
from services.badges.metrics import BadgesMetrics
from shared.config import Watched
from shared.service import ServiceContext, ServiceParts, ServiceRuntime, ServiceSpec
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(ctx: ServiceContext) -> ServiceParts:
    metrics = BadgesMetrics(ctx.metrics.registry)
    path = ctx.settings.badges_file or DEFAULT_BADGES_FILE
    book = Watched(path, BadgeBook, metrics.loaded, metrics.error)
    return ServiceParts(
        BadgesHandler(book.refresh, metrics, ctx.settings.leave_max_days),
        api.routes(ctx, book.refresh),
    )


def create_app(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(ServiceSpec("badges", INPUTS, MIGRATIONS, build), settings)
