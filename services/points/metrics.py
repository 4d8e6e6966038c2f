"""The points service's business metrics (no per-student labels)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter

from services.points.config import SECTIONS, PointsRules
from services.points.rules import Award
from shared.config import ConfigError, Loaded
from shared.metrics import ConfigFileMetrics

IGNORED_REASONS = ("share_cap",)


class PointsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.entries = Counter(
            "gamify_points_entries", "Ledger entries written, by rule.", ["rule"], registry=registry
        )
        self.paid = Counter(
            "gamify_points_paid",
            "Points paid (positive deltas), by rule.",
            ["rule"],
            registry=registry,
        )
        self.file = ConfigFileMetrics(registry, "gamify_points_rules", "rules file")

        self.ignored = Counter(
            "gamify_points_ignored",
            "Valid events the rules in force do not pay, by reason (share_cap).",
            ["reason"],
            registry=registry,
        )
        self.redemptions = Counter(
            "gamify_points_redemptions",
            "Redemption requests decided, by status.",
            ["status"],
            registry=registry,
        )
        self.deducted = Counter(
            "gamify_points_deducted",
            "Points deducted (negative deltas), by rule.",
            ["rule"],
            registry=registry,
        )

        # Every series this service can write exists from the start at 0, so that increase()
        # sees the first entry, redemption or deduction after a start (a series born at 1
        # has no increase).
        for rule in SECTIONS:
            self.entries.labels(rule)
            (self.deducted if rule == "redemption" else self.paid).labels(rule)
        for status in ("accepted", "rejected"):
            self.redemptions.labels(status)
        for reason in IGNORED_REASONS:
            self.ignored.labels(reason)

    def count(self, entries: Sequence[Award]) -> None:
        """Count a batch's entries: one increment per rule, not per entry."""
        made: dict[str, int] = defaultdict(int)
        paid: dict[str, int] = defaultdict(int)
        deducted: dict[str, int] = defaultdict(int)
        for e in entries:
            made[e.rule_id] += 1
            if e.delta > 0:
                paid[e.rule_id] += e.delta
            elif e.delta < 0:
                deducted[e.rule_id] -= e.delta
        for rule, n in made.items():
            self.entries.labels(rule).inc(n)
        for rule, n in paid.items():
            self.paid.labels(rule).inc(n)
        for rule, n in deducted.items():
            self.deducted.labels(rule).inc(n)

    def loaded(self, loaded: Loaded[PointsRules]) -> None:
        self.file.loaded(loaded.version)

    def error(self, _: ConfigError) -> None:
        self.file.error()
