"""Prometheus metrics of one service instance, on a registry of its own (no globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """The plumbing's metrics; services add their own business metrics on `registry`.

    Labels are bounded: service, topic, partition, outcome, reason. Never a student or camp id.
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.consumed = Counter(
            "gamify_events_consumed",
            "Messages read from input topics.",
            ["service", "topic"],
            registry=r,
        )
        self.processed = Counter(
            "gamify_events_processed",
            "Valid input events by outcome: applied (first time) or duplicate (inbox hit).",
            ["service", "topic", "outcome"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "gamify_events_dead_lettered",
            "Messages sent to gamify.dlq, by reason: json, schema, key_mismatch, domain,"
            " future_day, not_own_submission, self_review, conflict, handler.",
            ["service", "topic", "reason"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "gamify_batch_seconds",
            "Time to process one batch, database commit included.",
            ["service"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.event_age = Histogram(
            "gamify_event_age_seconds",
            "Age of each batch's oldest record, from its Kafka timestamp: when the batch is"
            " taken up (stage=taken: the bus and the queue before it) and when it is committed"
            " (stage=applied).",
            ["service", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.outbox_wait = Histogram(
            "gamify_outbox_wait_seconds",
            "For each claim of the relay, its oldest output event: from the start of the"
            " transaction that wrote it to the broker's acknowledgement.",
            ["service"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "gamify_batch_size",
            "Messages per consumed batch.",
            ["service"],
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 5000),
            registry=r,
        )
        self.retries = Counter(
            "gamify_retries",
            "Work retried after a transient failure, by stage.",
            ["service", "stage"],
            registry=r,
        )
        self.commit_failures = Counter(
            "gamify_offset_commit_failures",
            "Offset commits refused (usually a rebalance); the batch will be redelivered.",
            ["service"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "gamify_consumer_lag",
            "Messages behind the end of each assigned partition.",
            ["service", "topic", "partition"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "gamify_outbox_backlog",
            "Output events written but not yet published.",
            ["service"],
            registry=r,
        )
        self.published = Counter(
            "gamify_events_published",
            "Output events published by the outbox relay.",
            ["service", "topic"],
            registry=r,
        )
        self.inbox_pruned = Counter(
            "gamify_inbox_pruned",
            "Inbox rows deleted for being older than the inbox retention.",
            ["service"],
            registry=r,
        )
        self.up = Gauge(
            "gamify_ready",
            "1 while the service has its database and its partitions.",
            ["service"],
            registry=r,
        )

        # Series that exist before their first increment, so dashboards and alerts show 0, not
        # "no data", on a healthy service.
        for stage in ("taken", "applied"):
            self.event_age.labels(service, stage)
        self.outbox_wait.labels(service)
        for stage in ("batch", "event"):
            self.retries.labels(service, stage)
        self.commit_failures.labels(service)
        self.outbox_backlog.labels(service)
        self.inbox_pruned.labels(service)

    def render(self) -> bytes:
        """The text exposition format, for /metrics."""
        return generate_latest(self.registry)


class ConfigFileMetrics:
    """A rules file's version in force (a gauge at 1 for it) and its rejected changes."""

    def __init__(self, registry: CollectorRegistry, prefix: str, what: str) -> None:
        self.version = Gauge(
            f"{prefix}_version", f"1 for the {what} in force.", ["version"], registry=registry
        )
        self.rejected = Counter(
            f"{prefix}_rejected", f"Changed {what} rejected as invalid.", registry=registry
        )

    def loaded(self, version: str) -> None:
        self.version.clear()
        self.version.labels(version).set(1)

    def error(self) -> None:
        self.rejected.inc()
