"""`gamify dev`: the embedded broker, PostgreSQL and every service, in one command."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from gamify.launcher import ServiceProcess, service_env, stop_all
from shared import topics
from shared.embedded import (
    EmbeddedPostgres,
    InfrastructureError,
    create_database,
    drop_database,
    local_kafka,
)
from shared.settings import DEFAULT_PORTS, SERVICES, load_settings

# Where `gamify dev` leaves its database URL for other commands (`gamify points explain`).
DEV_DATABASE_FILE = Path.home() / ".gamify" / "database_url"


def run_dev(
    kafka_port: int,
    http_base_port: int | None,
    home: Path,
    partitions: int,
    keep_data: bool = False,
    kafka_kind: str = "embedded",
) -> int:
    home.mkdir(parents=True, exist_ok=True)
    # Apache Kafka keeps its log on disk, in the home beside the database: both are kept.
    log_kept = kafka_kind == "apache"
    kafka = local_kafka(
        kafka_kind,
        kafka_port,
        log_path=home / "broker.log",
        data_dir=home / "kafka-log" if log_kept else None,
    )
    pg: EmbeddedPostgres | None = None
    children: list[ServiceProcess] = []
    stopping = False

    def request_stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        what = "Apache Kafka" if log_kept else "the embedded broker"
        print(f"gamify dev: {what} on {kafka.bootstrap} (log {home / 'broker.log'})", flush=True)
        kafka.start()
        database_url = os.environ.get("GAMIFY_DATABASE_URL")
        # The embedded broker keeps its topics in memory: they start empty on every start.
        # A database kept from an earlier start would hold effects of events no topic holds
        # any more (gamify tail shows none of them, gamify audit calls them unpaid causes).
        if database_url:
            print(
                "gamify dev: database from GAMIFY_DATABASE_URL, used as it is (nothing dropped)"
                + (
                    ""
                    if log_kept
                    else "; the embedded broker's topics start empty while that database does"
                    " not, so gamify tail and gamify audit see only what is sent from now on"
                ),
                flush=True,
            )
        else:
            pg = EmbeddedPostgres(home / "pgdata")
            admin_url = pg.start()
            if log_kept:
                print(
                    f"gamify dev: keeping the database in {home / 'pgdata'} with Apache Kafka's"
                    f" log in {home / 'kafka-log'}: topics and tables go on from the last start",
                    flush=True,
                )
            elif keep_data:
                print(
                    f"gamify dev: keeping the database in {home / 'pgdata'} (--keep-data);"
                    " the embedded broker's topics start empty while it does not, so gamify"
                    " tail and gamify audit see only what is sent from now on",
                    flush=True,
                )
            else:
                asyncio.run(drop_database(admin_url, "gamify"))
                print(
                    f"gamify dev: a fresh database in {home / 'pgdata'}, as the embedded"
                    " broker's topics start empty (--keep-data keeps the last one)",
                    flush=True,
                )
            database_url = asyncio.run(create_database(admin_url, "gamify"))
        if home == DEV_DATABASE_FILE.parent:
            DEV_DATABASE_FILE.write_text(database_url + "\n")
        prefix = os.environ.get("GAMIFY_TOPIC_PREFIX", "")
        asyncio.run(
            topics.ensure_topics(
                kafka.bootstrap, [topics.physical(prefix, t) for t in topics.ALL], partitions
            )
        )
        for i, name in enumerate(SERVICES):
            port = http_base_port + i if http_base_port is not None else DEFAULT_PORTS[name]
            env = service_env(
                {
                    "GAMIFY_KAFKA_BOOTSTRAP": kafka.bootstrap,
                    "GAMIFY_DATABASE_URL": database_url,
                    "GAMIFY_TOPIC_PARTITIONS": str(partitions),
                    "GAMIFY_KAFKA_SESSION_TIMEOUT_MS": os.environ.get(
                        "GAMIFY_KAFKA_SESSION_TIMEOUT_MS", "6000"
                    ),
                    "GAMIFY_KAFKA_HEARTBEAT_MS": os.environ.get(
                        "GAMIFY_KAFKA_HEARTBEAT_MS", "1000"
                    ),
                },
                inherit_gamify=True,  # the user's own GAMIFY_ settings reach the services
            )
            children.append(ServiceProcess(name, port, env, own_session=True).start())
            print(f"gamify dev: {name} on http://127.0.0.1:{port}/metrics", flush=True)
        print("gamify dev: running; Ctrl-C stops everything", flush=True)
        while not stopping:
            for child in children:
                if child.exited() is not None:
                    print(
                        f"gamify dev: {child.name} exited with code {child.exited()}; stopping",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
            time.sleep(0.2)
        return 0
    except InfrastructureError as exc:
        print(f"gamify dev: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        stop_all(children, timeout=15)
        kafka.stop()
        if pg is not None:
            pg.stop()
        print("gamify dev: stopped", flush=True)


def current_database_url() -> str:
    """GAMIFY_DATABASE_URL, else the database of a running `gamify dev`, else the default."""
    if "GAMIFY_DATABASE_URL" not in os.environ and DEV_DATABASE_FILE.exists():
        return DEV_DATABASE_FILE.read_text().strip()
    return load_settings().database_url
