"""Wiring of the badges service. Nothing is built at import time."""

from __future__ import annotations

from pathlib import Path

from services.badges import api
from services.badges.config import DEFAULT_BADGES_FILE, BadgeBook
from services.badges.handlers import INPUTS, BadgesHandler
from services.badges.metrics import BadgesMetrics
from shared.config import Watched
from shared.service import ServiceContext, ServiceRuntime, ServiceSpec
from shared.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


class _Definitions:
    """The badge book in force, shared by the handler and the read side of one runtime."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._watched: Watched[BadgeBook] | None = None
        self.metrics: BadgesMetrics | None = None

    def watched(self, ctx: ServiceContext) -> Watched[BadgeBook]:
        if self._watched is None:
            self.metrics = BadgesMetrics(ctx.metrics.registry)
            self._watched = Watched(self._path, BadgeBook, self.metrics.loaded, self.metrics.error)
        return self._watched


def create_app(settings: Settings) -> ServiceRuntime:
    definitions = _Definitions(settings.badges_file or DEFAULT_BADGES_FILE)

    def make_handler(ctx: ServiceContext) -> BadgesHandler:
        watched = definitions.watched(ctx)
        assert definitions.metrics is not None
        return BadgesHandler(watched.refresh, definitions.metrics)

    spec = ServiceSpec(
        name="badges",
        inputs=INPUTS,
        migrations=MIGRATIONS,
        make_handler=make_handler,
        make_routes=lambda ctx: api.routes(ctx, definitions.watched(ctx).refresh),
    )
    return ServiceRuntime(spec, settings)
