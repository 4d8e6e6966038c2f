"""The measured processes: service replicas (optionally under py-spy), and the CPU and memory
each part of the machine uses while they run."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from bench.common import PARTITIONS, SAMPLE_S, say
from gamify.launcher import ServiceProcess, service_env, stop_all
from gamify.simulate.stack import RunPlace
from shared.embedded import free_port
from shared.outbox import events_waiting


class Replicas:
    """Replicas of one service as processes (gamify.launcher), optionally under py-spy."""

    def __init__(
        self,
        name: str,
        place: RunPlace,
        log_dir: Path,
        n: int = 1,
        profile: Path | None = None,
        phase: str = "",
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self._phase = phase  # in the profile's file name: DIR/NAME[-PHASE]-N.txt
        self._database_url = place.database_url
        self._profile = profile
        self._profilers: list[subprocess.Popen[bytes]] = []
        settings = {
            "GAMIFY_KAFKA_BOOTSTRAP": place.bootstrap,
            "GAMIFY_DATABASE_URL": place.database_url,
            "GAMIFY_TOPIC_PREFIX": place.prefix,
            "GAMIFY_TOPIC_PARTITIONS": str(PARTITIONS),
            "GAMIFY_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.procs = [
            ServiceProcess(
                name, free_port(), service_env(settings), log_dir / f"bench-{name}-{i}.log"
            )
            for i in range(n)
        ]
        self.ports = [p.port for p in self.procs]

    def start(self) -> None:
        for p in self.procs:
            p.start()
        if self._profile is not None:
            self._start_profilers(self._profile)

    def _start_profilers(self, into: Path) -> None:
        """py-spy on each replica: collapsed stacks (flamegraph input) written on stop."""
        into.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(self.procs):
            out = into / "-".join(filter(None, (self.name, self._phase, f"{i}.txt")))
            self._profilers.append(
                subprocess.Popen(
                    [
                        *(str(py_spy()), "record", "--pid", str(p.pid), "--format", "raw"),
                        *("--rate", "200", "--nonblocking", "--output", str(out)),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for spy in self._profilers:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for spy in self._profilers:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
        stop_all(self.procs)

    def rss_mb(self) -> float:
        total = 0.0
        for p in self.procs:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
        return round(total, 1)

    async def wait_ready(self, limit_s: float = 60.0) -> None:
        """Until every replica answers ready (database up, partitions assigned)."""
        for p in self.procs:
            await p.ready(limit_s)

    async def wait_published(self, quiet: bool) -> None:
        """Until every output event committed so far has been published (on one connection:
        a connection per poll costs PostgreSQL a backend start each time)."""
        conn = await asyncpg.connect(self._database_url)
        try:
            left = await events_waiting(conn, self.name)
            if left and not quiet:
                say(f"  {self.name}: all taken in; {left:,} output events still to publish ...")
            while left:
                await asyncio.sleep(0.05)
                left = await events_waiting(conn, self.name)
        finally:
            await conn.close()

    async def taken_in(self, http: aiohttp.ClientSession) -> tuple[float, float]:
        """Input records decided for the first time (applied or dead-lettered), and those
        taken in again (duplicates: redelivered after a rebalance), over all replicas. The
        backlog holds each event once, so only the first count progress."""
        totals = await self._sum_metrics(
            http,
            {
                "gamify_events_processed_total/applied",
                "gamify_events_processed_total/duplicate",
                "gamify_events_dead_lettered_total",
            },
        )
        again = totals.pop("gamify_events_processed_total/duplicate", 0.0)
        return sum(totals.values()), again

    async def held(self, http: aiohttp.ClientSession) -> int:
        """Events parked until their camp arrived (points), over all replicas."""
        totals = await self._sum_metrics(http, {"gamify_integrity_held_total"})
        return int(totals.get("gamify_integrity_held_total", 0))

    async def batches(self, http: aiohttp.ClientSession) -> tuple[float, float, float]:
        """Batches taken so far over all replicas: how many, their records, their seconds."""
        totals = await self._sum_metrics(
            http, {"gamify_batch_size_count", "gamify_batch_size_sum", "gamify_batch_seconds_sum"}
        )
        return (
            totals.get("gamify_batch_size_count", 0.0),
            totals.get("gamify_batch_size_sum", 0.0),
            totals.get("gamify_batch_seconds_sum", 0.0),
        )

    async def latency_stages(self, http: aiohttp.ClientSession) -> dict[str, tuple[float, float]]:
        """(sum of seconds, count) so far of each stage a record's latency is made of: the age
        of a batch's oldest record when taken up and when committed, a batch's own time, and
        the relay's wait from an output's transaction to its acknowledgement."""
        names = {
            "gamify_event_age_seconds_sum/taken": "taken",
            "gamify_event_age_seconds_sum/applied": "applied",
            "gamify_batch_seconds_sum": "batch",
            "gamify_outbox_wait_seconds_sum": "outbox",
        }
        counts = {name.replace("_sum", "_count") for name in names}
        totals = await self._sum_metrics(http, {*names, *counts})
        return {
            stage: (totals.get(name, 0.0), totals.get(name.replace("_sum", "_count"), 0.0))
            for name, stage in names.items()
        }

    async def _sum_metrics(self, http: aiohttp.ClientSession, names: set[str]) -> dict[str, float]:
        """Each sample named in `names` summed over the replicas; a sample with a `stage` (or
        `outcome`) label is named NAME/STAGE (NAME/OUTCOME)."""
        totals: dict[str, float] = {}
        for port, proc in zip(self.ports, self.procs, strict=True):
            if proc.exited() is not None:
                raise RuntimeError(f"{self.name} exited; see bench-{self.name}-*.log")
            try:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    text = await r.text()
            except aiohttp.ClientError:
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    stage = sample.labels.get("stage") or sample.labels.get("outcome")
                    name = f"{sample.name}/{stage}" if stage else sample.name
                    if name in names:
                        totals[name] = totals.get(name, 0.0) + sample.value
        return totals


def py_spy() -> str | None:
    """The py-spy executable: beside this Python (a virtualenv) or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


class Sampler:
    """Every `every_s` seconds while running: the replicas' RSS and the cores each role used
    in that window, so that a long run shows its memory and CPU over time, not two end points."""

    def __init__(self, replicas: Replicas | None, every_s: float = SAMPLE_S) -> None:
        self._replicas = replicas
        self._pids = [p.pid for p in replicas.procs] if replicas else []
        self._every_s = every_s
        self.windows: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._begin = 0.0
        self._cpu: dict[str, float] = {}

    async def __aenter__(self) -> Sampler:
        self._begin = time.perf_counter()
        self._cpu = cpu_seconds(self._pids)
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        start, cpu = self._begin, self._cpu
        while True:
            await asyncio.sleep(self._every_s)
            now, used = time.perf_counter(), cpu_seconds(self._pids)
            window: dict[str, Any] = {"t_s": round(start - self._begin, 1)}
            if self._replicas is not None:
                window["rss_mb"] = self._replicas.rss_mb()
            window["cores"] = cpu_share(cpu, used, now - start)
            self.windows.append(window)
            start, cpu = now, used

    def mean_cores(self) -> dict[str, float]:
        """Cores by role, averaged over the windows."""
        if not self.windows:
            return {}
        roles = self.windows[0]["cores"].keys()
        n = len(self.windows)
        return {r: round(sum(w["cores"][r] for w in self.windows) / n, 2) for r in roles}


_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """A process's (or a thread's) name and CPU seconds from its /proc stat line."""

    comm: str
    cpu_s: float  # utime + stime
    reaped_children_cpu_s: float  # cutime + cstime


def proc_stat(path: str) -> ProcStat | None:
    """The stat file at `path` (/proc/PID/stat, /proc/PID/task/TID/stat); None once gone."""
    try:
        with open(path) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return ProcStat(
        stat[stat.index("(") + 1 : stat.rindex(")")],
        (int(fields[11]) + int(fields[12])) / _TICKS,
        (int(fields[13]) + int(fields[14])) / _TICKS,
    )


def cpu_seconds(service_pids: Sequence[int]) -> dict[str, float]:
    """CPU time used so far by role: the service, PostgreSQL, the broker, this benchmark."""
    roles = {"service": 0.0, "postgres": 0.0, "broker": 0.0, "bench": 0.0}
    services = set(service_pids)
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or (stat := proc_stat(f"/proc/{entry}/stat")) is None:
            continue
        comm, used, pid = stat.comm, stat.cpu_s, int(entry)
        if comm == "postgres":
            # + the postmaster's reaped children. A backend that exits (the pool replaces a
            # connection every 50,000 queries) would otherwise take its CPU out of the sum: a
            # 10-minute phase read 0.04 cores of PostgreSQL for about 0.3.
            used += stat.reaped_children_cpu_s
        if pid in services:
            roles["service"] += used
        elif comm == "postgres":
            roles["postgres"] += used
        elif comm in ("broker", "java") or comm.startswith("tansu"):  # embedded, or Apache
            roles["broker"] += used
        elif pid == os.getpid():
            roles["bench"] += used
    return roles


def cpu_share(
    before: dict[str, float], after: dict[str, float], elapsed: float
) -> dict[str, float]:
    """Cores used by each role over `elapsed` seconds (2.0 = both cores of a 2-core machine)."""
    return {k: round((after[k] - before[k]) / elapsed, 2) for k in before}
