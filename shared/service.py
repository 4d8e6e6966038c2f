"""The runtime every service shares: it wires a service's handler to the broker, the database,
the outbox relay, the clock and the HTTP side, with an explicit start/stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from shared import topics
from shared.api import Route, openapi, web_routes
from shared.clock import Clock, TopicClock, WallClock
from shared.db import apply_migrations, create_pool
from shared.gate import GateMetrics, IntegrityGate
from shared.http import HttpServer, build_app, metrics_app
from shared.kafka_intake import KafkaIntake
from shared.lanes import Lanes
from shared.metrics import ServiceMetrics
from shared.outbox import OutboxRelay
from shared.processor import REASONS, BatchHandler, BatchProcessor
from shared.producer import start_relay_producer
from shared.reach import reaching_database, reaching_kafka
from shared.retention import prune_inbox_forever
from shared.security import consumer_options, database_options, kafka_options
from shared.settings import Settings

log = logging.getLogger(__name__)

PLUMBING_MIGRATIONS = Path(__file__).parent / "migrations"
# Batches that may wait per lane. The consumer hands out one partition's fetched records
# (often several batches' worth) before the next partition's: a lane must be able to hold
# them while the other lanes get theirs.
LANE_DEPTH = 64


@dataclass
class ServiceContext:
    """What a service's handler and read API may use once the runtime has started."""

    settings: Settings
    pool: asyncpg.Pool
    metrics: ServiceMetrics
    clock: Clock
    wake_relay: Callable[[], None]


@dataclass(frozen=True)
class ServiceParts:
    """What a service builds once its runtime has started: its business step, its read routes
    and any long-running work besides consuming (a scheduler, a delivery channel)."""

    handler: BatchHandler
    routes: Sequence[Route] = ()
    tasks: Sequence[Coroutine[Any, Any, None]] = ()


@dataclass(frozen=True)
class ServiceSpec:
    """What makes one service: its inputs, its tables, and the one function (its composition
    root) that builds its parts from the running context."""

    name: str
    inputs: Sequence[str]
    migrations: Path
    build: Callable[[ServiceContext], ServiceParts]
    # Inputs whose fetched records are handed out before any other input's: definitions the
    # other events depend on. A backlog (a new camp and its first day's check-ins after an
    # outage) then finds the camp first instead of holding its check-ins until the consumer
    # happens to reach the camp's partition. Only an order of preference: correctness never
    # rests on it.
    first_inputs: Sequence[str] = (topics.CAMPS, topics.SUBMISSIONS)


# A stop step that has not finished by then is abandoned: a stop must end (a test teardown
# once waited forever in one), and what it held is closed with the process.
STOP_STEP_S = 10.0


async def _within(seconds: float, what: str, step: Awaitable[object]) -> bool:
    """Await `step` for at most `seconds`; False (logged) when it had to be abandoned."""
    try:
        async with asyncio.timeout(seconds):  # not wait_for: see OutboxRelay.run
            await step
    except TimeoutError:
        log.warning("%s did not finish within %.0f s; stopping without it", what, seconds)
        return False
    return True


class ServiceRuntime:
    """One running instance of a service."""

    def __init__(self, spec: ServiceSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.metrics = ServiceMetrics(spec.name)
        self.group_id = settings.consumer_group or f"{settings.topic_prefix}gamify-{spec.name}"
        self.context: ServiceContext | None = None
        self._producer: AIOKafkaProducer | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self._http: HttpServer | None = None
        self._metrics_http: HttpServer | None = None  # with GAMIFY_METRICS_PORT
        self._pool: asyncpg.Pool | None = None
        self._clock: Clock = WallClock()
        self._intakes: list[KafkaIntake] = []
        self._lanes: list[Lanes] = []
        self._tasks: list[asyncio.Task[None]] = []
        # Set when the process must stop on its own (a lane failed): run_until_signalled
        # stops as on a signal, then exits with status 1.
        self.fatal = asyncio.Event()

    @property
    def http_port(self) -> int:
        assert self._http is not None, "start() first"
        return self._http.port

    async def start(self) -> None:
        """Start every part; a broker or database that cannot be reached raises Unreachable,
        which names it (shared.reach)."""
        await reaching_kafka(self.settings.kafka_bootstrap, self._start())

    async def _start(self) -> None:
        s = self.settings
        prefix = s.topic_prefix
        await topics.ensure_topics(
            s.kafka_bootstrap,
            [topics.physical(prefix, t) for t in topics.ALL],
            s.topic_partitions,
            s.topic_replication,
            **kafka_options(s),
        )
        self._pool = await reaching_database(
            s.database_url,
            create_pool(s.database_url, self.spec.name, s.db_pool_size, **database_options(s)),
        )
        await apply_migrations(
            self._pool,
            self.spec.name,
            [("plumbing", PLUMBING_MIGRATIONS), (self.spec.name, self.spec.migrations)],
        )
        if s.clock == "topic":
            # a tick is one small record, wanted at once: no minimum to fill
            self._clock = TopicClock(
                s.kafka_bootstrap,
                topics.physical(prefix, topics.CLOCK),
                **consumer_options(s, min_bytes=1),
            )
        await self._clock.start()
        self._producer = await start_relay_producer(s)
        relay = OutboxRelay(
            self.spec.name, self._pool, self._producer, self.metrics, prefix, s.relay_claim_rows
        )
        self._relay_task = asyncio.create_task(relay.run(), name=f"{self.spec.name}-relay")
        self.context = ServiceContext(s, self._pool, self.metrics, self._clock, relay.wake)
        parts = self.spec.build(self.context)

        processor = BatchProcessor(
            self.spec.name,
            self._pool,
            {t: topics.MODELS[t] for t in self.spec.inputs},
            IntegrityGate(
                parts.handler,
                self.spec.inputs,
                s.makeup_window_days,
                GateMetrics(self.metrics.registry, self.spec.name),
            ),
            self.metrics,
            on_commit=relay.wake,
            topic_prefix=prefix,
        )
        for _ in range(s.consumers):
            self._add_intake(processor)
        for topic in self.spec.inputs:  # from 0, so that the first one shows in rate()
            for outcome in ("applied", "duplicate"):
                self.metrics.processed.labels(self.spec.name, topic, outcome)
            for reason in REASONS:
                self.metrics.dead_lettered.labels(self.spec.name, topic, reason)
        # HTTP first: /metrics answers (from zero) before the first batch is taken.
        routes = parts.routes
        self._http = HttpServer(
            build_app(
                self.metrics,
                self.readiness,
                web_routes(routes, self._pool),
                s.http_token.get_secret_value() if s.http_token else None,
                openapi(self.spec.name, routes, token=s.http_token is not None),
                with_metrics=s.metrics_port is None,
            ),
            s.http_host,
            s.port_for(self.spec.name),
        )
        await self._http.start()
        if s.metrics_port is not None:
            self._metrics_http = HttpServer(metrics_app(self.metrics), s.http_host, s.metrics_port)
            await self._metrics_http.start()
        for lanes, intake in zip(self._lanes, self._intakes, strict=True):
            lanes.start()
            await intake.start(lanes.submit, lanes.hand_over)

        self._tasks = [
            asyncio.create_task(work, name=f"{self.spec.name}-task")
            for work in [
                *parts.tasks,
                self._watch_readiness(),
                *self._retention(),
            ]
        ]
        log.info(
            "%s started: group %s, topics %s, http :%d",
            self.spec.name,
            self.group_id,
            ", ".join(self.spec.inputs),
            self._http.port,
        )

    def _add_intake(self, processor: BatchProcessor) -> None:
        """One group member (shared/kafka_intake.py) and the lanes that apply its batches and
        commit their offsets."""
        s = self.settings
        first = {
            topics.physical(s.topic_prefix, t)
            for t in set(self.spec.first_inputs) & set(self.spec.inputs)
        }
        intake = KafkaIntake(
            self.spec.name,
            [topics.physical(s.topic_prefix, t) for t in self.spec.inputs],
            first,
            self.metrics,
            s.topic_prefix,
            s.batch_max_records,
            s.batch_timeout_ms,
            self._failed,
            s.kafka_commit_interval_ms,
            bootstrap_servers=s.kafka_bootstrap,
            group_id=self.group_id,
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=s.kafka_heartbeat_ms,
            max_poll_records=s.batch_max_records,
            **consumer_options(s),  # security, and the fetch wait
        )
        lanes = Lanes(
            processor.process,
            intake.commit,
            s.batch_lanes,
            depth=LANE_DEPTH,
            max_records=s.batch_max_records,
            on_failure=self._failed,
            first_topics=first,
        )
        self._intakes.append(intake)
        self._lanes.append(lanes)

    def _retention(self) -> list[Coroutine[Any, Any, None]]:
        s = self.settings
        if s.inbox_retention_days == 0:
            return []
        assert self._pool is not None
        days, every_s = s.inbox_retention_days, s.inbox_prune_every_s
        return [prune_inbox_forever(self._pool, self.metrics, days, every_s)]

    def _failed(self, exc: BaseException) -> None:
        log.critical("%s: stopping after an unexpected failure: %r", self.spec.name, exc)
        self.fatal.set()

    async def _watch_readiness(self, every_s: float = 2.0) -> None:
        """Keep `gamify_ready` current for Prometheus (which scrapes /metrics, not /health)."""
        gauge = self.metrics.up.labels(self.spec.name)
        while True:
            checks = await self.readiness()
            gauge.set(1 if all(checks.values()) else 0)
            await asyncio.sleep(every_s)

    async def readiness(self) -> dict[str, bool]:
        """Ready when the database answers and the consumer holds at least one partition."""
        database = False
        if self._pool is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):  # not wait_for: see OutboxRelay.run
                    database = await self._pool.fetchval("SELECT true") is True
        assigned = any(intake.assigned() for intake in self._intakes)
        return {"database": database, "partitions_assigned": assigned}

    async def stop(self) -> None:
        """Stop consuming first, then relay what is left briefly, then close everything."""
        for server in (self._http, self._metrics_http):
            if server:
                await _within(STOP_STEP_S, "the HTTP server's stop", server.stop())
        for intake in self._intakes:
            await _within(STOP_STEP_S, "the intake's fetching", intake.stop_fetching())
        for lanes in self._lanes:  # finish the batches in hand and commit their offsets
            await lanes.close(grace_s=10.0)
        for intake in self._intakes:
            await _within(STOP_STEP_S, "the consumer's stop", intake.stop())
        for task in self._tasks:
            task.cancel()
        tasks = asyncio.gather(*self._tasks, return_exceptions=True)
        await _within(STOP_STEP_S, "the service's tasks", tasks)
        if self._relay_task:
            self._relay_task.cancel()
            relay = asyncio.gather(self._relay_task, return_exceptions=True)
            await _within(STOP_STEP_S, "the outbox relay's stop", relay)
        if self._producer:
            await _within(STOP_STEP_S, "the producer's stop", self._producer.stop())
        await _within(STOP_STEP_S, "the clock's stop", self._clock.stop())
        if self._pool and not await _within(STOP_STEP_S, "the pool's close", self._pool.close()):
            self._pool.terminate()
        log.info("%s stopped", self.spec.name)

    async def run_until_signalled(self) -> None:
        """Run until SIGINT or SIGTERM, then stop cleanly; after a fatal failure, stop and
        exit with status 1 (so that a supervisor restarts the process)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        starting = asyncio.create_task(self.start(), name=f"{self.spec.name}-start")
        signalled = asyncio.create_task(_first_of(stop, self.fatal))
        try:
            await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                starting.result()  # a failed start raises here
                await signalled
            else:  # a signal while starting (e.g. waiting for a broker): give up the start
                log.info("%s: stop requested while starting", self.spec.name)
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
        finally:
            signalled.cancel()
            await self.stop()
        if self.fatal.is_set():
            raise SystemExit(1)


async def _first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
