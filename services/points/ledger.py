"""The points ledger's writes: entries paid once per cause, the balances they move and their
`gamify.points` events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

import asyncpg

from services.points.rules import Award
from shared import topics
from shared.db import Contended, json_rows
from shared.outbox import ROW_EVENTS, derived_event_id

Cause = tuple[str, str, str, str]  # (camp_id, student_id, rule_id, cause)


def cause_of(a: Award) -> Cause:
    return (a.camp_id, a.student_id, a.rule_id, a.cause)


async def record_awards(
    conn: asyncpg.Connection,
    awards: Sequence[Award],
    rules_version: str,
    unpaid: Collection[Cause] = (),
) -> list[Award]:
    """Insert the awards not paid before, move the balances, write each new entry's
    `gamify.points` event to the outbox, and return the awards written.

    Three statements whatever the batch size: read which causes are paid already (but those
    the caller knows `unpaid`), move each student's balance by the sum of the rest (locked in
    key order: no deadlocks), insert them with their running balances. Ledger rows are
    written once, never updated. A cause wrongly said unpaid is refused by the insert, which
    then raises Contended: the batch is run again, and the caller should say less.
    """
    if not awards:
        return []
    paid = await _paid_causes(conn, [a for a in awards if cause_of(a) not in unpaid])
    new: dict[Cause, Award] = {}
    for a in awards:
        key = cause_of(a)
        if key not in paid and key not in new:
            new[key] = a
    if not new:
        return []
    # Earnings before deductions within a batch, each group in arrival order.
    ordered = sorted(new.values(), key=lambda a: a.delta < 0)
    sums: dict[tuple[str, str], int] = defaultdict(int)
    earned: dict[tuple[str, str], int] = defaultdict(int)
    for a in ordered:
        sums[(a.camp_id, a.student_id)] += a.delta
        earned[(a.camp_id, a.student_id)] += max(a.delta, 0)
    balances = await _move_balances(conn, sums, earned)
    running = {
        (b["camp_id"], b["student_id"]): b["balance"] - sums[(b["camp_id"], b["student_id"])]
        for b in balances
    }
    after = []
    for a in ordered:
        running[(a.camp_id, a.student_id)] += a.delta
        after.append(running[(a.camp_id, a.student_id)])
    try:
        await conn.execute(
            _INSERT_ENTRIES, _entry_rows(ordered, after), rules_version, topics.POINTS, ROW_EVENTS
        )
    except asyncpg.UniqueViolationError as exc:
        # Another transaction paid one of these causes since we read, or one said unpaid was
        # paid: start the batch again.
        raise Contended(f"a ledger cause was paid concurrently: {exc}") from exc
    return ordered


# The ledger rows and, from the same rows, their output events (outbox rows of up to
# ROW_EVENTS events, see shared.outbox). The event's JSON is made here from fields that are
# JSON values of the parameter already: building it in Python and parsing it again in SQL cost
# the service 4 us per entry more and PostgreSQL about 1.5 less. `u` is not materialized: read
# twice, it would be copied into a tuplestore first. The fields are PointsEntry's, in its order
# (a test checks the JSON against the model). No ON CONFLICT: the causes were read unpaid, and
# a speculative insert costs a probe of the cause's index and a second write per row (1.5 us).
_INSERT_ENTRIES = (
    "WITH u AS NOT MATERIALIZED (SELECT r, n, (n - 1) / $4::int AS row_of"
    " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS u(r, n)),"
    " entries AS (INSERT INTO ledger (camp_id, student_id, rule_id, cause, delta,"
    " source_event_id, rules_version, occurred_at, camp_day, balance_after)"
    " SELECT r->>0, r->>1, r->>2, r->>3, (r->>4)::int, r->>5, $2, (r->>6)::timestamptz,"
    " (r->>7)::int, (r->>8)::int FROM u"
    " ORDER BY n),"
    " events AS (INSERT INTO outbox (topics, keys, payloads)"
    " SELECT array_agg($3::text ORDER BY n), array_agg(r->>1 ORDER BY n), array_agg("
    """ format('{"event_id":%s,"occurred_at":%s,"camp_id":%s,"student_id":%s,"delta":%s,"""
    """"rule_id":%s,"source_event_id":%s,"balance":%s}',"""
    " r->9, r->6, r->0, r->1, r->4, r->2, r->5, r->8) ORDER BY n)"
    " FROM u GROUP BY row_of ORDER BY row_of)"
    " SELECT 1"  # each WITH insert runs whether read or not
)


def _entry_rows(ordered: Sequence[Award], after: Sequence[int]) -> str:
    return json_rows(
        (
            a.camp_id,
            a.student_id,
            a.rule_id,
            a.cause,
            a.delta,
            a.source_event_id,
            a.occurred_at,  # written by pydantic-core: 0.4 us less than isoformat()
            a.camp_day,
            b,
            derived_event_id("points", a.camp_id, a.student_id, a.rule_id, a.cause),
        )
        for a, b in zip(ordered, after, strict=True)
    )


async def _paid_causes(conn: asyncpg.Connection, awards: Sequence[Award]) -> set[Cause]:
    if not awards:
        return set()
    keys = sorted({cause_of(a) for a in awards})
    rows = await conn.fetch(
        "SELECT k.c, k.s, k.r, k.x FROM (SELECT r->>0 AS c, r->>1 AS s, r->>2 AS r, r->>3 AS x"
        " FROM jsonb_array_elements($1::jsonb) AS u(r)) AS k"
        # LATERAL ... LIMIT 1: one probe of the cause's index per key, whatever the planner
        # thinks of the batch (it assumes 100 rows of any jsonb array, so against a ledger of
        # some 10,000 rows it read the whole ledger for a handful of keys)
        " CROSS JOIN LATERAL (SELECT 1 FROM ledger l WHERE l.student_id = k.s"
        " AND l.camp_id = k.c AND l.rule_id = k.r AND l.cause = k.x LIMIT 1) AS paid",
        json_rows(keys),
    )
    return {(r[0], r[1], r[2], r[3]) for r in rows}


async def _move_balances(
    conn: asyncpg.Connection, sums: dict[tuple[str, str], int], earned: dict[tuple[str, str], int]
) -> list[asyncpg.Record]:
    """Add each student's sum to their balance, and their gains to what they earned, in key
    order; returns the new balances.

    Gains upsert; net deductions update (PostgreSQL checks the proposed row of an upsert
    against balance >= 0 before it finds the conflict, so a deduction cannot go through it).
    """
    gains = sorted(k for k, v in sums.items() if v >= 0)
    losses = sorted(k for k, v in sums.items() if v < 0)
    rows: list[asyncpg.Record] = []
    if gains:
        rows += await conn.fetch(
            "INSERT INTO balances (camp_id, student_id, balance, earned)"
            " SELECT r->>0, r->>1, (r->>2)::int, (r->>3)::int FROM jsonb_array_elements($1::jsonb)"
            " WITH ORDINALITY AS u(r, n) ORDER BY n"
            " ON CONFLICT (camp_id, student_id) DO UPDATE"
            " SET balance = balances.balance + excluded.balance,"
            " earned = balances.earned + excluded.earned, updated_at = now()"
            " RETURNING camp_id, student_id, balance",
            json_rows((c, s, sums[(c, s)], earned[(c, s)]) for c, s in gains),
        )
    if losses:
        rows += await conn.fetch(
            "UPDATE balances b SET balance = b.balance + u.d, earned = b.earned + u.e,"
            " updated_at = now()"
            " FROM unnest($1::text[], $2::text[], $3::int[], $4::int[]) AS u(c, s, d, e)"
            " WHERE b.camp_id = u.c AND b.student_id = u.s"
            " RETURNING b.camp_id, b.student_id, b.balance",
            [k[0] for k in losses],
            [k[1] for k in losses],
            [sums[k] for k in losses],
            [earned[k] for k in losses],
        )
    if len(rows) != len(sums):
        raise RuntimeError("a deduction was recorded for a student without a balance")
    return rows
