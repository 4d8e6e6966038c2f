"""The real parts a simulation runs on: the broker and PostgreSQL (embedded unless given), and
the four services as processes on the topic clock, each run with its own database and topic
prefix so that runs never see each other."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gamify.launcher import ServiceProcess, service_env, stop_all
from shared import topics
from shared.embedded import (
    EmbeddedKafka,
    EmbeddedPostgres,
    create_database,
    drop_database,
    free_port,
    local_kafka,
)
from shared.settings import SERVICES

if TYPE_CHECKING:
    from shared.apache_kafka import ApacheKafka


def kept_database(label: str) -> str:
    """The database a kept simulation run leaves (`gamify report CAMP --simulation LABEL`)."""
    return f"sim_kept_{label.lower()}"


@dataclass(frozen=True, slots=True)
class RunPlace:
    bootstrap: str
    prefix: str
    database_url: str


class Infrastructure:
    """A broker and a PostgreSQL server for the simulation (embedded unless given)."""

    def __init__(
        self,
        bootstrap: str | None,
        admin_url: str | None,
        home: Path,
        kafka_kind: str = "embedded",
    ) -> None:
        self._bootstrap = bootstrap
        self._kafka_kind = kafka_kind
        self._admin_url = admin_url
        self._home = home
        self._kafka: EmbeddedKafka | ApacheKafka | None = None
        self._pg: EmbeddedPostgres | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> None:
        if self._bootstrap is None:
            self._kafka = local_kafka(
                self._kafka_kind, free_port(), log_path=self._home / "simulate-broker.log"
            )
            self._kafka.start()
            self._bootstrap = self._kafka.bootstrap
        if self._admin_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="gamify-sim-pg-")
            self._pg = EmbeddedPostgres(Path(self._tmp.name) / "data", cleanup="delete")
            self._admin_url = self._pg.start()

    def stop(self) -> None:
        if self._pg:
            self._pg.stop()
        if self._tmp:
            self._tmp.cleanup()
        if self._kafka:
            self._kafka.stop()

    async def new_place(
        self, label: str, partitions: int = 3, kind: str = "sim", kept: bool = False
    ) -> RunPlace:
        """A database and topic prefix of the run's own. `kept`: the database has a stable
        name (`kept_database(label)`), replacing the one an earlier kept run left."""
        assert self._bootstrap is not None and self._admin_url is not None
        tag = f"{kind}_{label.lower()}_{uuid.uuid4().hex[:8]}"
        if kept:
            await drop_database(self._admin_url, kept_database(label))
        url = await create_database(self._admin_url, kept_database(label) if kept else tag)
        prefix = f"{tag}."
        await topics.ensure_topics(
            self._bootstrap, [topics.physical(prefix, t) for t in topics.ALL], partitions
        )
        return RunPlace(self._bootstrap, prefix, url)


class ServiceSet:
    """The four services as processes on one run's place, with the given rules files."""

    def __init__(self, place: RunPlace, files: dict[str, Path], log_dir: Path) -> None:
        self._place = place
        self._files = files
        self._log_dir = log_dir
        self._procs: list[ServiceProcess] = []
        self.ports: dict[str, int] = {}

    async def start(self) -> None:
        for name in SERVICES:
            env = service_env(
                {
                    "GAMIFY_KAFKA_BOOTSTRAP": self._place.bootstrap,
                    "GAMIFY_DATABASE_URL": self._place.database_url,
                    "GAMIFY_TOPIC_PREFIX": self._place.prefix,
                    "GAMIFY_CLOCK": "topic",
                    "GAMIFY_SCHEDULER_INTERVAL_S": "0.2",
                    "GAMIFY_BATCH_TIMEOUT_MS": "20",
                    **{var: str(path) for var, path in self._files.items()},
                }
            )
            log = self._log_dir / f"simulate-{name}.log"
            self._procs.append(ServiceProcess(name, free_port(), env, log).start())
            self.ports[name] = self._procs[-1].port
        for proc in self._procs:
            await proc.ready(90.0)

    def stop(self) -> None:
        stop_all(self._procs)
