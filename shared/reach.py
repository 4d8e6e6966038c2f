"""Start-up failures to reach the broker or the database, told as one line that names the
address, the setting that gave it and what to check, instead of a client library's traceback."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg
from aiokafka.errors import KafkaConnectionError

T = TypeVar("T")

# What connecting to PostgreSQL raises when the server, the database or the login is wrong
# (a timeout is an OSError's sibling: TimeoutError).
_DATABASE_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.CannotConnectNowError,
)


class Unreachable(RuntimeError):
    """The broker or the database could not be reached at start; the message says which."""


def database_address(url: str) -> str:
    """host:port/database of a PostgreSQL URL, without the user or password; the host may be
    given as `?host=` (a socket directory) and the port as `?port=`, as libpq allows."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = parts.hostname or query.get("host", ["localhost"])[0]
    port = parts.port or query.get("port", ["5432"])[0]
    return f"{host}:{port}/{parts.path.lstrip('/')}"


async def reaching_kafka(bootstrap: str, step: Awaitable[T]) -> T:
    try:
        return await step
    except KafkaConnectionError:  # its text only repeats the address
        raise Unreachable(
            f"cannot reach the Kafka broker at {bootstrap} (GAMIFY_KAFKA_BOOTSTRAP)."
            " Check that the broker runs and that this host can reach that address."
        ) from None


async def reaching_database(url: str, step: Awaitable[T]) -> T:
    try:
        return await step
    except _DATABASE_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise Unreachable(
            f"cannot connect to PostgreSQL at {database_address(url)} (GAMIFY_DATABASE_URL):"
            f" {reason}. Check that the server runs, that the database exists and that the"
            " login is right (GAMIFY_DATABASE_PASSWORD)."
        ) from None
