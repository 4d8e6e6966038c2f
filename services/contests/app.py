"""The contests service's composition root. Nothing is built at import time."""

from __future__ import annotations

from pathlib import Path

from services.contests import api
from services.contests.closer import Closer
from services.contests.config import DEFAULT_CONTESTS_FILE, ContestBook
from services.contests.handlers import INPUTS, ContestsHandler
from services.contests.metrics import ContestsMetrics
from shared.config import Watched
from shared.service import ServiceContext, ServiceParts, ServiceRuntime, ServiceSpec
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(ctx: ServiceContext) -> ServiceParts:
    s = ctx.settings
    metrics = ContestsMetrics(ctx.metrics.registry)
    book = Watched(
        s.contests_file or DEFAULT_CONTESTS_FILE, ContestBook, metrics.loaded, metrics.error
    )
    closer = Closer(
        ctx.pool,
        ctx.clock,
        book.refresh,
        metrics,
        ctx.wake_relay,
        s.scheduler_interval_s,
    )
    return ServiceParts(
        ContestsHandler(metrics), api.routes(ctx, book.refresh), tasks=[closer.run()]
    )


def create_app(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(ServiceSpec("contests", INPUTS, MIGRATIONS, build), settings)
