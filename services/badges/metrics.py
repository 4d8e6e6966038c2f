"""The badges service's business metrics (no per-student labels)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from services.badges.config import BadgeBook
from shared.config import ConfigError, Loaded
from shared.metrics import ConfigFileMetrics


class BadgesMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.awarded = Counter(
            "gamify_badges_awarded", "Badges awarded, by badge.", ["badge"], registry=registry
        )
        self.file = ConfigFileMetrics(registry, "gamify_badges_definitions", "badge definitions")

    def loaded(self, loaded: Loaded[BadgeBook]) -> None:
        self.file.loaded(loaded.version)
        for badge in loaded.model.badges:  # at 0 before the first award (see increase())
            self.awarded.labels(badge.id)

    def error(self, _: ConfigError) -> None:
        self.file.error()
