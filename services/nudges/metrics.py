"""The nudges service's business metrics (labels: kind, segment, reason, camp; never a student)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.nudges.config import ALL_SEGMENTS, KINDS, SEGMENTS, NudgeBook
from services.nudges.loop import LoopMetrics
from shared.config import ConfigError, Loaded
from shared.metrics import ConfigFileMetrics

# Why a due reminder is not sent (rules.decide_reminder, and the scheduler's no_template).
SKIP_REASONS = (
    "not_enrolled",
    "opted_out",
    "checked_in",
    "active",
    "quiet_hours",
    "expired",
    "capped",
    "backoff",
    "no_template",
    "on_leave",
    "holdout",
)


class NudgesMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "gamify_nudges_sent",
            "Nudges sent, by kind and segment.",
            ["kind", "segment"],
            registry=registry,
        )
        self.skipped = Counter(
            "gamify_nudges_skipped",
            "Nudges that came due but were not sent, by kind and reason (checked_in, opted_out,"
            " active, quiet_hours, capped, backoff, expired, not_enrolled, no_template; praise:"
            " not_active; welcome_back: not_lapsed, welcomed).",
            ["kind", "reason"],
            registry=registry,
        )
        self.moves = Counter(
            "gamify_segment_moves",
            "Students moving between segments (from none when new).",
            ["from_segment", "to_segment"],
            registry=registry,
        )
        self.sizes = Gauge(
            "gamify_segment_size",
            "Students per segment, per camp.",
            ["camp", "segment"],
            registry=registry,
        )
        self.gifts = Counter(
            "gamify_gifts", "Gifts given, by gift id.", ["gift"], registry=registry
        )
        self.rollovers = Counter(
            "gamify_camp_day_rollovers",
            "Camp days started (segments and reminders prepared).",
            registry=registry,
        )
        self.scheduler_clock = Gauge(
            "gamify_nudges_scheduler_clock_seconds",
            "The clock's time (Unix seconds) as of the scheduler's last completed pass; with the"
            " wall clock, compare to time() to see a stalled scheduler.",
            registry=registry,
        )
        self.channel = Counter(
            "gamify_channel_deliveries",
            "Deliveries to an outside channel, by channel and outcome.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.file = ConfigFileMetrics(registry, "gamify_nudges_definitions", "nudges file")
        self.loop = LoopMetrics(registry)
        self.outcomes = Counter(
            "gamify_reminder_outcomes",
            "Reminders and homework nudges sent (group=reminded) or held out (group=holdout),"
            " by whether a check-in followed within 24 hours; counted 24 hours after each.",
            ["group", "kind", "segment", "template", "outcome"],
            registry=registry,
        )
        self.forwarder_failures = Counter(
            "gamify_channel_forwarder_failures",
            "Times the WeCom forwarder failed and was started again.",
            registry=registry,
        )

        # Every series exists at 0 from the start, so that increase() sees the first nudge,
        # skip or move after a start (a series born at 1 has no increase).
        for kind in KINDS:
            for segment in SEGMENTS:
                self.sent.labels(kind, segment)
        for reason in SKIP_REASONS:
            self.skipped.labels("reminder", reason)
        for kind in KINDS:
            self.skipped.labels(kind, "no_template")
        for reason in ("not_active", "capped", "praise_off", "not_first"):
            self.skipped.labels("praise", reason)
        for reason in ("not_lapsed", "welcomed"):
            self.skipped.labels("welcome_back", reason)
        for reason in ("not_back", "welcomed"):
            self.skipped.labels("back_from_leave", reason)
        for before in ("none", *ALL_SEGMENTS):
            for after in ALL_SEGMENTS:
                self.moves.labels(before, after)
        for outcome in ("sent", "failed", "refused", "duplicate"):
            self.channel.labels("wecom", outcome)

    def loaded(self, loaded: Loaded[NudgeBook]) -> None:
        self.file.loaded(loaded.version)
        self.gifts.labels(loaded.model.welcome_back_gift)

    def error(self, _: ConfigError) -> None:
        self.file.error()
