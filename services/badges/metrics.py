"""The badges service's business metrics (no per-student labels)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.badges.config import BadgeBook
from shared.config import ConfigError, Loaded


class BadgesMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.awarded = Counter(
            "gamify_badges_awarded", "Badges awarded, by badge.", ["badge"], registry=registry
        )
        self.version = Gauge(
            "gamify_badges_definitions_version",
            "1 for the badge definitions in force.",
            ["version"],
            registry=registry,
        )
        self.rejected = Counter(
            "gamify_badges_definitions_rejected",
            "Changed badge files rejected as invalid.",
            registry=registry,
        )

    def loaded(self, loaded: Loaded[BadgeBook]) -> None:
        self.version.clear()
        self.version.labels(loaded.version).set(1)
        for badge in loaded.model.badges:  # at 0 before the first award (see increase())
            self.awarded.labels(badge.id)

    def error(self, _: ConfigError) -> None:
        self.rejected.inc()
