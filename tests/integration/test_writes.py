"""A batch's independent writes go to PostgreSQL as one statement, each with its own
parameters."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.db import Writes


class Counting:
    """A connection that counts the statements sent through it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.sent: list[str] = []

    async def execute(self, sql: str, *args: Any) -> str:
        self.sent.append(sql)
        result: str = await self.conn.execute(sql, *args)
        return result


async def test_writes_to_three_tables_are_one_statement_with_each_ones_parameters(
    database_url: str,
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "CREATE TEMP TABLE a (k text PRIMARY KEY, n int);"
            " CREATE TEMP TABLE b (k text PRIMARY KEY, t text);"
            " CREATE TEMP TABLE c (k text PRIMARY KEY, n int)"
        )
        await conn.execute("INSERT INTO c VALUES ('x', 1)")
        writes = Writes()
        a_rows = (["a1", "a2"], [1, 2])
        writes.add("INSERT INTO a SELECT * FROM unnest($1::text[], $2::int[])", *a_rows)
        writes.add("INSERT INTO b VALUES ($1, $2)", "b1", "beta")
        writes.add(
            "INSERT INTO c VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET n = c.n + excluded.n",
            "x",
            41,
        )
        counting = Counting(conn)
        await writes.send(counting)  # type: ignore[arg-type]
        assert len(counting.sent) == 1
        assert [tuple(r) for r in await conn.fetch("SELECT * FROM a ORDER BY k")] == [
            ("a1", 1),
            ("a2", 2),
        ]
        assert [tuple(r) for r in await conn.fetch("SELECT * FROM b")] == [("b1", "beta")]
        assert await conn.fetchval("SELECT n FROM c WHERE k = 'x'") == 42
        await writes.send(counting)  # sent: nothing is left to send again
        assert len(counting.sent) == 1
    finally:
        await conn.close()


def test_a_single_write_is_sent_as_it_is() -> None:
    writes = Writes()
    writes.add("INSERT INTO b VALUES ($1, $2)", "b1", "beta")
    assert writes.sql() == ("INSERT INTO b VALUES ($1, $2)", ["b1", "beta"])
    writes.add("INSERT INTO a VALUES ($1, $2)", "a1", 1)
    sql, params = writes.sql()
    assert sql == (
        "WITH w0 AS (INSERT INTO b VALUES ($1, $2)), w1 AS (INSERT INTO a VALUES ($3, $4)) SELECT"
    )
    assert params == ["b1", "beta", "a1", 1]
