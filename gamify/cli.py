"""`gamify`: the one command-line entry point (dev, send, tail, rules check, points explain)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from shared import topics
from shared.config import ConfigError, load_yaml


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gamify", description=__doc__)
    sub = p.add_subparsers(title="commands")

    dev = sub.add_parser("dev", help="run the broker, PostgreSQL and every service locally")
    dev.add_argument("--kafka-port", type=int, default=9092)
    dev.add_argument(
        "--http-base-port",
        type=int,
        default=None,
        help="points gets this port, badges +1, nudges +2, contests +3 (default 9101-9104)",
    )
    dev.add_argument(
        "--home",
        type=Path,
        default=Path.home() / ".gamify",
        help="where the database and the broker log live (default ~/.gamify)",
    )
    dev.add_argument("--partitions", type=int, default=3)
    dev.set_defaults(run=_dev)

    send = sub.add_parser("send", help="publish one event (event_id and occurred_at are filled in)")
    send.add_argument("topic", choices=sorted(topics.MODELS))
    send.add_argument("json", help="the event as a JSON object")
    send.add_argument("--key", help="message key (default: student_id, else camp_id)")
    send.add_argument("--bootstrap", default=None)
    send.set_defaults(run=_send)

    tail = sub.add_parser("tail", help="print the messages of a topic, oldest first")
    tail.add_argument("topic", choices=sorted(topics.ALL))
    tail.add_argument("--bootstrap", default=None)
    tail.add_argument(
        "--wait", type=float, default=2.0, help="stop after this many seconds without a new message"
    )
    tail.set_defaults(run=_tail)

    rules = sub.add_parser("rules", help="rules files")
    rules_sub = rules.add_subparsers(title="rules commands")
    check = rules_sub.add_parser("check", help="validate a rules file without running anything")
    check.add_argument("file", type=Path)
    check.add_argument("--service", default="points", choices=["points"])
    check.set_defaults(run=_rules_check)

    points = sub.add_parser("points", help="the points ledger")
    points_sub = points.add_subparsers(title="points commands")
    explain = points_sub.add_parser(
        "explain", help="why a student has the points they have, entry by entry"
    )
    explain.add_argument("student")
    explain.add_argument("--camp", default=None)
    explain.set_defaults(run=_points_explain)
    return p


def _points_explain(args: argparse.Namespace) -> int:
    from services.points.explain import explain

    print(asyncio.run(explain(_database_url(), args.student, args.camp)))
    return 0


def _database_url() -> str:
    """GAMIFY_DATABASE_URL, else the database of a running `gamify dev`, else the default."""
    import os

    from gamify.dev import DEV_DATABASE_FILE
    from shared.settings import load_settings

    if "GAMIFY_DATABASE_URL" not in os.environ and DEV_DATABASE_FILE.exists():
        return DEV_DATABASE_FILE.read_text().strip()
    return load_settings().database_url


def _bootstrap(value: str | None) -> tuple[str, str]:
    from shared.settings import load_settings

    settings = load_settings()
    return value or settings.kafka_bootstrap, settings.topic_prefix


def _dev(args: argparse.Namespace) -> int:
    from gamify.dev import run_dev

    return run_dev(args.kafka_port, args.http_base_port, args.home.expanduser(), args.partitions)


def _send(args: argparse.Namespace) -> int:
    try:
        body = json.loads(args.json)
    except json.JSONDecodeError as exc:
        print(f"gamify send: not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(body, dict):
        print("gamify send: the event must be a JSON object", file=sys.stderr)
        return 2
    body.setdefault("event_id", str(uuid.uuid4()))
    body.setdefault("occurred_at", datetime.now(UTC).isoformat())
    key = args.key or body.get("student_id") or body.get("camp_id")
    bootstrap, prefix = _bootstrap(args.bootstrap)

    async def publish() -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.physical(prefix, args.topic),
                json.dumps(body, ensure_ascii=False).encode(),
                key=str(key).encode() if key else None,
            )
        finally:
            await producer.stop()

    asyncio.run(publish())
    print(json.dumps(body, ensure_ascii=False))
    return 0


def _tail(args: argparse.Namespace) -> int:
    bootstrap, prefix = _bootstrap(args.bootstrap)

    async def read() -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        name = topics.physical(prefix, args.topic)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(name) or set()
            if not parts:
                await consumer.topics()
                parts = consumer.partitions_for_topic(name) or {0}
            assigned = [TopicPartition(name, p) for p in sorted(parts)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            while True:
                batch = await consumer.getmany(timeout_ms=int(args.wait * 1000))
                if not batch:
                    return
                for records in batch.values():
                    for r in records:
                        print(r.value.decode("utf-8", "replace"), flush=True)
        finally:
            await consumer.stop()

    asyncio.run(read())
    return 0


def _rules_check(args: argparse.Namespace) -> int:
    from services.points.config import PointsRules

    try:
        loaded = load_yaml(args.file, PointsRules)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args.file}: valid {args.service} rules, version {loaded.version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
