"""The nudges service's composition root. Nothing is built at import time."""

from __future__ import annotations

from pathlib import Path

from services.nudges import api
from services.nudges.config import DEFAULT_NUDGES_FILE, NudgeBook
from services.nudges.handlers import INPUTS, NudgesHandler
from services.nudges.metrics import NudgesMetrics
from services.nudges.scheduler import Scheduler
from services.nudges.teachers import TeachersRobot
from services.nudges.wecom import WeComForwarder
from services.points.config import DEFAULT_RULES_FILE, PointsRules
from shared.config import Watched
from shared.security import consumer_options
from shared.service import ServiceContext, ServiceParts, ServiceRuntime, ServiceSpec
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def build(ctx: ServiceContext) -> ServiceParts:
    s = ctx.settings
    metrics = NudgesMetrics(ctx.metrics.registry)
    book = Watched(s.nudges_file or DEFAULT_NUDGES_FILE, NudgeBook, metrics.loaded, metrics.error)
    scheduler = Scheduler(
        ctx.pool,
        ctx.clock,
        book.refresh,
        metrics,
        ctx.wake_relay,
        s.scheduler_interval_s,
        s.leave_max_days,
        # the streak freezes are the points rules' (the same file as the points service's)
        Watched(s.rules_file or DEFAULT_RULES_FILE, PointsRules).refresh,
    )
    forwarder = WeComForwarder(
        s.kafka_bootstrap, s.topic_prefix, ctx.pool, book.refresh, metrics, consumer_options(s)
    )
    teachers = TeachersRobot(ctx.pool, ctx.clock, book.refresh, metrics, s.scheduler_interval_s)
    return ServiceParts(
        NudgesHandler(book.refresh, ctx.clock, metrics, s.leave_max_days),
        api.routes(ctx),
        tasks=[scheduler.run(), forwarder.run(), teachers.run()],
    )


def create_app(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(ServiceSpec("nudges", INPUTS, MIGRATIONS, build), settings)
