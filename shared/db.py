"""PostgreSQL access: a pool per service (its own schema) and versioned SQL migrations."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from pydantic_core import to_json

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def pair_columns(pairs: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(camp, student) pairs as the two sorted columns `students_rows` takes as $1 and $2."""
    ordered = sorted(pairs)
    return [p[0] for p in ordered], [p[1] for p in ordered]


def students_rows(table: str, where: str = "") -> str:
    """A FROM clause: the rows of `table`, as `t`, of the students given as $1 (camp ids) and
    $2 (student ids), each student's found by a probe of an index that leads with
    (camp_id, student_id) or (student_id, camp_id); `where` filters inside (" AND t.x = 1").

    Not a join: for a batch of a few hundred students out of some 10,000 the planner chose
    to read and sort the whole table (nudges' check-ins: 25-40 ms a batch instead of 2-3),
    and for a handful, with what it assumes of a jsonb batch, to scan it. OFFSET 0 keeps the
    per-student subquery from being merged back into a join. Meant for batches (hundreds of
    students), not whole camps.
    """
    return (
        "unnest($1::text[], $2::text[]) AS p(c, s) CROSS JOIN LATERAL (SELECT * FROM"
        f" {check_identifier(table)} t WHERE t.camp_id = p.c AND t.student_id = p.s{where}"
        " OFFSET 0) AS t"
    )


def json_rows(rows: Iterable[Sequence[object]]) -> str:
    """A batch's rows as one JSON array of arrays, read in SQL with
    `jsonb_array_elements($n::jsonb) AS u(r)` and `r->>0`, `(r->>1)::int`, ...

    For the statements that carry a row per event: asyncpg encodes an array parameter element
    by element, with two isinstance checks against collections.abc each, which showed in
    profiles; one JSON text is written by pydantic-core's encoder (500 ledger rows: 3.6 ms
    as arrays, 0.36 with the standard library's json, 0.15 with pydantic-core). Datetimes
    become ISO 8601 text (`(r->>3)::timestamptz`); callers pass bytes as hex
    (`decode(r->>2, 'hex')`). Texts cannot hold NUL (the event models refuse it).

    jsonb, not json: a json value is text, and each `r->>k` scans its element again from the
    start; jsonb is parsed once. A 500-row ledger insert took 7-9 ms instead of 10-14.
    """
    return to_json(list(rows)).decode()


_PARAMETER = re.compile(r"\$(\d+)")


class Writes:
    """A batch's independent writes (inserts and upserts into different tables, none needing
    another's rows), sent to PostgreSQL as one statement: each a data-modifying WITH query.

    At a trickle a round trip costs the batch more than the rows it carries (bench/README.md,
    A round trip). Parameters are renumbered, so a statement must hold `$` nowhere but in
    its parameters' numbers."""

    def __init__(self) -> None:
        self._statements: list[tuple[str, tuple[object, ...]]] = []

    def add(self, sql: str, *args: object) -> None:
        self._statements.append((sql, args))

    def sql(self) -> tuple[str, list[object]]:
        """The one statement, and its parameters."""
        if len(self._statements) == 1:
            sql, args = self._statements[0]
            return sql, list(args)
        parts: list[str] = []
        params: list[object] = []
        for i, (sql, args) in enumerate(self._statements):
            parts.append(f"w{i} AS ({_renumbered(sql, len(params))})")
            params += args
        return "WITH " + ", ".join(parts) + " SELECT", params

    async def send(self, conn: asyncpg.Connection) -> None:
        if self._statements:
            sql, params = self.sql()
            await conn.execute(sql, *params)
        self._statements.clear()


def _renumbered(sql: str, by: int) -> str:
    return _PARAMETER.sub(lambda m: f"${int(m[1]) + by}", sql)


class Contended(Exception):
    """Another transaction changed what this one read (a check found it): run it again."""


class Caution:
    """Whether a batch should write the careful way rather than the cheap one that assumes
    what is nearly always true (and fails the statement when it is not): careful for the
    next `batches` after each failure, and from the start if `careful_at_start`."""

    def __init__(self, batches: int, careful_at_start: bool = False) -> None:
        self._batches = batches
        self._left = batches if careful_at_start else 0

    def careful(self) -> bool:
        """Asked once per batch: counts that batch down."""
        if self._left == 0:
            return False
        self._left -= 1
        return True

    def failed(self) -> None:
        self._left = self._batches


# Errors after which the same work may succeed once the database is back (or run again).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    Contended,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # A connection cut in the middle of an operation can leave asyncpg's protocol in a state
    # it refuses ("cannot switch to state ..."): the pool replaces the connection.
    asyncpg.InternalClientError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


async def create_pool(url: str, schema: str, size: int, **connect: Any) -> asyncpg.Pool:
    """A pool whose connections see `schema` first, so each service keeps its own tables."""
    await _ensure_schema(url, schema, **connect)
    pool = await asyncpg.create_pool(
        url,
        **connect,
        min_size=1,
        max_size=size,
        server_settings={
            "search_path": schema,
            "application_name": f"gamify-{schema}",
            # Statements join tables to unnest()ed batches. A cached generic plan made while a
            # table was small keeps scanning it whole as it grows (until autovacuum analyzes);
            # a plan per execution costs little beside a 500-row statement and sees the size.
            "plan_cache_mode": "force_custom_plan",
            # JIT compiling asyncpg's type introspection query made the first batch after a
            # start take 1.5 s; these short statements never gain from JIT.
            "jit": "off",
        },
        command_timeout=60,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs on its way back to the pool: nothing beyond what asyncpg does
    anyway (roll back a transaction left open). asyncpg's default also sends a reset query
    (advisory unlock all, CLOSE ALL, UNLISTEN *, RESET ALL): a round trip for every
    transaction, for session state the services never make. Their advisory locks are
    transaction-scoped, they never LISTEN or SET, and their cursors live in a transaction
    (tests/unit/test_sql_session_state.py holds the code to that)."""


async def lock_keys(
    conn: asyncpg.Connection, exclusive: Iterable[str] = (), shared: Iterable[str] = ()
) -> None:
    """Transaction-scoped advisory locks on these keys, all taken in one global order.

    Replicas process different partitions at once; where one transaction's effect depends on
    rows another is writing (a camp and the check-ins held for it, two topics of one
    student), READ COMMITTED alone lets each miss the other's. Locking the shared key first
    makes the later transaction see the earlier one's committed rows.
    """
    modes = dict.fromkeys(shared, False) | dict.fromkeys(exclusive, True)
    if not modes:
        return
    await conn.execute(
        "SELECT count(CASE WHEN s.x THEN pg_advisory_xact_lock(s.h)"
        " ELSE pg_advisory_xact_lock_shared(s.h) END)"
        " FROM (SELECT hashtext(k) AS h, x FROM unnest($1::text[], $2::bool[]) AS t(k, x)"
        " ORDER BY 1) s",
        list(modes),
        list(modes.values()),
    )


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    """A schema or database name about to be spliced into SQL (identifiers cannot be $n)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier (a-z, 0-9, _): {name!r}")
    return name


async def _ensure_schema(url: str, schema: str, **connect: Any) -> None:
    check_identifier(schema)
    conn = await asyncpg.connect(url, **connect)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gamify-schema'))")
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()


def migration_files(directory: Path) -> list[tuple[int, Path]]:
    """The numbered `NNN_name.sql` files of `directory`, in order; anything else is an error."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise ValueError(f"{path}: migration files are named NNN_lowercase_words.sql")
        found.append((int(match.group(1)), path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{directory}: two migrations share a number")
    return found


async def apply_migrations(
    pool: asyncpg.Pool, schema: str, tracks: list[tuple[str, Path]]
) -> list[str]:
    """Apply each track's migrations not applied yet; replicas starting at once take turns.

    A track is a named folder of numbered SQL files: the shared plumbing (inbox, outbox) is one,
    the service's own tables another.
    """
    applied_now: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " track text NOT NULL, version int NOT NULL, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (track, version))"
        )
        rows = await conn.fetch("SELECT track, version FROM schema_migrations")
        done = {(r["track"], r["version"]) for r in rows}
        for track, directory in tracks:
            for version, path in migration_files(directory):
                if (track, version) in done:
                    continue
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute(
                    "INSERT INTO schema_migrations (track, version, name) VALUES ($1, $2, $3)",
                    track,
                    version,
                    path.name,
                )
                applied_now.append(f"{track}/{path.name}")
                log.info("applied migration %s: %s/%s", schema, track, path.name)
    return applied_now
