"""Apache Kafka on this machine, run from its jars: a single KRaft node (broker and controller
at once) on 127.0.0.1 with its log on disk, for `gamify dev --kafka apache`, the tests
(`GAMIFY_TEST_KAFKA=apache`) and the benchmark. The version is pinned in
deploy/kafka/pom.xml; Maven fetches the jars once into ~/.gamify/kafka/<version>/."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from shared.embedded import InfrastructureError, free_port, port_open

POM = Path(__file__).resolve().parents[1] / "deploy" / "kafka" / "pom.xml"
# Where the jars are kept (one folder per version); GAMIFY_KAFKA_CACHE moves it.
CACHE = Path(os.environ.get("GAMIFY_KAFKA_CACHE", Path.home() / ".gamify" / "kafka"))
READY_LINE = "[BrokerServer id=1] Transition from STARTING to STARTED"
# Small and quiet enough for a laptop and CI's 2 cores, with everything a single node needs.
SERVER_SETTINGS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "inter.broker.listener.name": "PLAINTEXT",
    "num.partitions": "3",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "6",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "3",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "log.retention.hours": "168",
    "auto.create.topics.enable": "false",  # as in deploy/compose.yaml: services create theirs
}
# The JVM as Kafka's own scripts start it (kafka-server-start.sh's heap, kafka-run-class.sh's
# collector), as the apache/kafka image in deploy/compose.yaml runs: the figures are meant to
# hold on the broker users run. The serial collector, tried for its small footprint, stopped
# the broker 10-42 ms every few seconds at 1,000 events/s, and longer as its heap filled
# (bench/README.md, The broker's collector).
JVM_OPTIONS = [
    "-Xmx1G",
    "-Xms1G",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]
LOG4J = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: WARN
"""


def kafka_version() -> str:
    """The Apache Kafka version the project pins (deploy/kafka/pom.xml)."""
    found = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text(encoding="utf-8"))
    assert found, f"{POM} names no kafka.version"
    return found.group(1)


def _need(command: str, what: str) -> str:
    path = shutil.which(command)
    if path is None:
        raise InfrastructureError(
            f"Apache Kafka needs {what} ({command!r} is not on PATH): on Debian,"
            f" apt-get install {'openjdk-17-jre-headless' if command == 'java' else 'maven'}"
        )
    return path


def kafka_jars(cache: Path = CACHE) -> Path:
    """The folder holding the pinned version's jars, fetched by Maven on first use."""
    version = kafka_version()
    folder = cache / version
    if (folder / f"kafka_2.13-{version}.jar").exists():
        return folder
    mvn = _need("mvn", "Maven to fetch its jars once")
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{version}-", dir=cache))
    fetched = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
        ],
        capture_output=True,
        text=True,
    )
    if fetched.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        tail = (fetched.stdout + fetched.stderr).strip().splitlines()[-5:]
        raise InfrastructureError(
            f"Maven could not fetch Apache Kafka {version}: " + " / ".join(tail)
        )
    try:
        partial.rename(folder)  # whole or not at all: another process may have won
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


class ApacheKafka:
    """A single-node Apache Kafka (KRaft) on 127.0.0.1:`port`, its log in `data_dir` (a
    temporary folder, removed at stop, unless given: then kept, and reused at the next start)."""

    def __init__(
        self,
        port: int = 9092,
        log_path: Path | None = None,
        advertised_port: int | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.port = port
        self.advertised_port = advertised_port or port
        self.bootstrap = f"127.0.0.1:{self.advertised_port}"
        self.keeps_log = data_dir is not None
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="gamify-kafka-"))
        self._log_path = log_path or self.data_dir / "server.log"
        self._controller_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 90.0) -> None:
        java = _need("java", "Java 17 or newer")
        jars = kafka_jars()
        if port_open(self.port):
            raise InfrastructureError(
                f"127.0.0.1:{self.port} is already taken: stop what listens there "
                "or choose another port (gamify dev --kafka-port N)"
            )
        config = self._write_config()
        classpath = f"{jars}{os.sep}*"
        if not (self.data_dir / "log" / "meta.properties").exists():
            self._format(java, classpath, config)
        out = open(self._log_path, "ab")  # noqa: SIM115 (the child holds it)
        mark = self._log_path.stat().st_size
        self._proc = subprocess.Popen(
            [
                java,
                *JVM_OPTIONS,
                f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.yaml'}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self._wait_ready(mark, timeout)

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            **SERVER_SETTINGS,
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self._controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.advertised_port}",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self._controller_port}",
            "log.dirs": str(self.data_dir / "log"),
        }
        config = self.data_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")
        (self.data_dir / "log4j2.yaml").write_text(LOG4J, encoding="utf-8")
        return config

    def _format(self, java: str, classpath: str, config: Path) -> None:
        formatted = subprocess.run(
            [
                java,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "--cluster-id",
                uuid.uuid4().hex[:22],
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
        )
        if formatted.returncode != 0:
            raise InfrastructureError(
                f"formatting Apache Kafka's log in {self.data_dir} failed: "
                + (formatted.stdout + formatted.stderr).strip()[-500:]
            )

    def _wait_ready(self, mark: int, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise InfrastructureError(
                    f"Apache Kafka exited with code {self._proc.returncode}; see {self._log_path}"
                )
            with open(self._log_path, "rb") as log:
                log.seek(mark)
                if READY_LINE.encode() in log.read() and port_open(self.port):
                    return
            if time.monotonic() > deadline:
                self.stop()
                raise InfrastructureError(
                    f"Apache Kafka was not ready within {timeout:.0f}s; see {self._log_path}"
                )
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL, as a crash would: the log stays on disk for the next start."""
        if self._proc is not None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
            self._proc = None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()  # a controlled shutdown
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
