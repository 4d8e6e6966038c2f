"""`gamify send` and `gamify tail`: one event onto a topic, and a topic's messages printed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from shared import topics
from shared.kafka_clients import running


def add_parsers(sub: Any) -> None:
    send_cmd = sub.add_parser(
        "send", help="publish one event (event_id and occurred_at are filled in)"
    )
    send_cmd.add_argument("topic", choices=sorted(topics.MODELS))
    send_cmd.add_argument("json", help="the event as a JSON object")
    send_cmd.add_argument("--key", help="message key (default: student_id, else camp_id)")
    send_cmd.add_argument("--bootstrap", default=None)
    send_cmd.set_defaults(run=send)

    tail_cmd = sub.add_parser("tail", help="print the messages of a topic, oldest first")
    tail_cmd.add_argument("topic", choices=sorted(topics.ALL))
    tail_cmd.add_argument("--bootstrap", default=None)
    tail_cmd.add_argument(
        "--wait", type=float, default=2.0, help="stop after this many seconds without a new message"
    )
    tail_cmd.set_defaults(run=tail)


def bootstrap_of(value: str | None) -> tuple[str, str]:
    from shared.settings import load_settings

    settings = load_settings()
    return value or settings.kafka_bootstrap, settings.topic_prefix


def send(args: argparse.Namespace) -> int:
    try:
        body = json.loads(args.json)
    except json.JSONDecodeError as exc:
        print(f"gamify send: not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(body, dict):
        print("gamify send: the event must be a JSON object", file=sys.stderr)
        return 2
    if "event_id" in body and "occurred_at" not in body:
        print(
            "gamify send: occurred_at filled in with now; sending this JSON again makes another"
            " event under the same event_id (a conflict), not a redelivery: to resend, send the"
            " line printed below",
            file=sys.stderr,
        )
    body.setdefault("event_id", str(uuid.uuid4()))
    body.setdefault("occurred_at", datetime.now(UTC).isoformat())
    key = args.key or body.get("student_id") or body.get("camp_id")
    bootstrap, prefix = bootstrap_of(args.bootstrap)

    async def publish() -> None:
        from faststream.kafka import KafkaBroker

        from shared.security import faststream_security
        from shared.settings import load_settings

        # faststream's publisher, as designed: one message, its key, confirmed by the broker
        security = faststream_security(load_settings())  # GAMIFY_KAFKA_SECURITY_PROTOCOL etc.
        async with KafkaBroker(bootstrap, logger=None, security=security) as broker:
            await broker.publish(
                json.dumps(body, ensure_ascii=False).encode(),
                topics.physical(prefix, args.topic),
                key=str(key).encode() if key else None,
                headers={"content-type": "application/json"},
            )

    asyncio.run(publish())
    print(json.dumps(body, ensure_ascii=False))
    return 0


def tail(args: argparse.Namespace) -> int:
    bootstrap, prefix = bootstrap_of(args.bootstrap)

    async def read() -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        name = topics.physical(prefix, args.topic)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        async with running(consumer):
            assigned = [
                TopicPartition(name, p) for p in await topics.partitions_of(bootstrap, name)
            ]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            # Everything published before the command, however slow the first fetches are;
            # then what comes, until --wait seconds pass without a new message.
            ends = await consumer.end_offsets(assigned)
            while [tp for tp in assigned if await consumer.position(tp) < ends[tp]]:
                show(await consumer.getmany(*assigned, timeout_ms=1000))
            while batch := await consumer.getmany(timeout_ms=int(args.wait * 1000)):
                show(batch)

    def show(batch: dict[Any, list[Any]]) -> None:
        for records in batch.values():
            for r in records:
                print(r.value.decode("utf-8", "replace"), flush=True)

    asyncio.run(read())
    return 0
