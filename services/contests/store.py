"""Every SQL statement of the contests service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from services.contests.rules import Ballot, CampWeeks, Entry, WeekResult, settle
from shared import camps as shared_camps
from shared.events import Camp, Enrollment, RankedEntry, Review, Submission, Vote

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def save_camps(conn: asyncpg.Connection, camps: Sequence[Camp]) -> None:
    await shared_camps.save_camps(
        conn,
        camps,
        "INSERT INTO camps SELECT * FROM unnest($1::text[], $2::date[], $3::int[],"
        " $4::text[], $5::timestamptz[]) ON CONFLICT (camp_id) DO UPDATE SET"
        " starts_on = excluded.starts_on, days = excluded.days, timezone = excluded.timezone,"
        " occurred_at = excluded.occurred_at WHERE camps.occurred_at < excluded.occurred_at",
        ("camp_id", "starts_on", "days", "timezone", "occurred_at"),
    )


async def save_enrollments(conn: asyncpg.Connection, enrollments: Sequence[Enrollment]) -> None:
    pairs = sorted({(e.camp_id, e.student_id) for e in enrollments})
    if pairs:
        await conn.execute(
            "INSERT INTO enrollments SELECT * FROM unnest($1::text[], $2::text[])"
            " ON CONFLICT DO NOTHING",
            [p[0] for p in pairs],
            [p[1] for p in pairs],
        )


async def save_entries(conn: asyncpg.Connection, submissions: Sequence[Submission]) -> None:
    """Contest entries; a submission reported twice keeps its earliest time."""
    earliest: dict[tuple[str, str], Submission] = {}
    for s in submissions:
        key = (s.camp_id, s.submission_id)
        if key not in earliest or s.occurred_at < earliest[key].occurred_at:
            earliest[key] = s
    rows = [earliest[k] for k in sorted(earliest)]
    if rows:
        await conn.execute(
            "INSERT INTO entries SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
            " $4::timestamptz[]) ON CONFLICT (camp_id, submission_id) DO UPDATE SET"
            " submitted_at = least(entries.submitted_at, excluded.submitted_at)",
            [s.camp_id for s in rows],
            [s.submission_id for s in rows],
            [s.student_id for s in rows],
            [s.occurred_at for s in rows],
        )


async def save_scores(conn: asyncpg.Connection, reviews: Sequence[Review]) -> None:
    best: dict[tuple[str, str], int] = {}
    for r in reviews:
        key = (r.camp_id, r.submission_id)
        best[key] = max(best.get(key, r.score), r.score)
    keys = sorted(best)
    if keys:
        await conn.execute(
            "INSERT INTO scores SELECT * FROM unnest($1::text[], $2::text[], $3::int[])"
            " ON CONFLICT (camp_id, submission_id) DO UPDATE SET"
            " best_score = greatest(scores.best_score, excluded.best_score)",
            [k[0] for k in keys],
            [k[1] for k in keys],
            [best[k] for k in keys],
        )


async def save_votes(conn: asyncpg.Connection, votes: Sequence[Vote]) -> int:
    """Store votes, one per (voter, submission), the earliest cast; returns how many of them
    repeated a vote already stored (a second vote for the same work)."""
    earliest: dict[tuple[str, str, str], Vote] = {}
    for v in votes:
        key = (v.camp_id, v.voter_id, v.submission_id)
        if key not in earliest or v.occurred_at < earliest[key].occurred_at:
            earliest[key] = v
    keys = sorted(earliest)
    if not keys:
        return 0
    rows = await conn.fetch(
        "INSERT INTO votes (camp_id, voter_id, submission_id, occurred_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])"
        " ON CONFLICT (camp_id, voter_id, submission_id) DO UPDATE SET"
        " occurred_at = least(votes.occurred_at, excluded.occurred_at)"
        " WHERE votes.outcome IS NULL"
        " RETURNING (xmax = 0) AS inserted",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [earliest[k].occurred_at for k in keys],
    )
    inserted = sum(1 for r in rows if r["inserted"])
    return len(votes) - inserted


async def load_camps(conn: Conn, ids: Sequence[str] | None = None) -> dict[str, CampWeeks]:
    rows = await conn.fetch(
        "SELECT camp_id, starts_on, days, timezone FROM camps"
        " WHERE $1::text[] IS NULL OR camp_id = ANY($1::text[])",
        None if ids is None else list(ids),
    )
    return {r["camp_id"]: CampWeeks(r["starts_on"], r["days"], r["timezone"]) for r in rows}


async def settled(conn: Conn, camp_ids: Sequence[str] | None = None) -> set[tuple[str, int]]:
    rows = await conn.fetch(
        "SELECT camp_id, week FROM weeks WHERE $1::text[] IS NULL OR camp_id = ANY($1::text[])",
        None if camp_ids is None else list(camp_ids),
    )
    return {(r["camp_id"], r["week"]) for r in rows}


async def entries_by_id(
    conn: Conn, camp_id: str, weeks: CampWeeks | None, ids: Sequence[str] | None = None
) -> dict[str, Entry]:
    # Two statements, not one with "$2 IS NULL OR ...": a prepared statement's generic plan
    # cannot use the primary key for an optional filter and would read the whole camp.
    if ids is None:
        rows = await conn.fetch(
            "SELECT submission_id, student_id, submitted_at FROM entries WHERE camp_id = $1",
            camp_id,
        )
    else:
        rows = await conn.fetch(
            "SELECT submission_id, student_id, submitted_at FROM entries"
            " WHERE camp_id = $1 AND submission_id = ANY($2::text[])",
            camp_id,
            list(ids),
        )
    return {
        r["submission_id"]: Entry(
            r["submission_id"],
            r["student_id"],
            r["submitted_at"],
            weeks.week_of(r["submitted_at"]) if weeks else None,
        )
        for r in rows
    }


@dataclass(frozen=True, slots=True)
class CampFacts:
    entries: dict[str, Entry]
    ballots: list[Ballot]
    outcomes: dict[tuple[str, str], str | None]
    enrolled: set[str]
    scores: dict[str, int]

    def settle(self, week: int, weeks: CampWeeks, cap: int, min_votes: int = 1) -> WeekResult:
        """The week's ranking and vote outcomes from these facts (pure)."""
        return settle(
            week, self.entries, self.ballots, self.enrolled, self.scores, weeks, cap, min_votes
        )


async def camp_facts(conn: Conn, camp_id: str, weeks: CampWeeks) -> CampFacts:
    entries = await entries_by_id(conn, camp_id, weeks)
    votes = await conn.fetch(
        "SELECT voter_id, submission_id, occurred_at, outcome FROM votes WHERE camp_id = $1",
        camp_id,
    )
    enrolled = await conn.fetch("SELECT student_id FROM enrollments WHERE camp_id = $1", camp_id)
    scores = await conn.fetch(
        "SELECT submission_id, best_score FROM scores WHERE camp_id = $1", camp_id
    )
    return CampFacts(
        entries=entries,
        ballots=[Ballot(r["voter_id"], r["submission_id"], r["occurred_at"]) for r in votes],
        outcomes={(r["voter_id"], r["submission_id"]): r["outcome"] for r in votes},
        enrolled={r["student_id"] for r in enrolled},
        scores={r["submission_id"]: r["best_score"] for r in scores},
    )


async def lock_week(conn: asyncpg.Connection, camp_id: str, week: int) -> bool:
    """Hold the week's close for this transaction; True when it is not settled yet."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1), $2)", camp_id, week)
    done = await conn.fetchval(
        "SELECT 1 FROM weeks WHERE camp_id = $1 AND week = $2", camp_id, week
    )
    return done is None


async def settle_week(
    conn: asyncpg.Connection,
    camp_id: str,
    week: int,
    closed_at: datetime,
    ranking: Sequence[RankedEntry],
    outcomes: dict[tuple[str, str], str],
    rules_version: str,
) -> None:
    await conn.execute(
        "INSERT INTO weeks (camp_id, week, closed_at, ranking, rules_version)"
        " VALUES ($1, $2, $3, $4::jsonb, $5)",
        camp_id,
        week,
        closed_at,
        json.dumps([r.model_dump() for r in ranking], ensure_ascii=False),
        rules_version,
    )
    keys = sorted(outcomes)
    if keys:
        await conn.execute(
            "UPDATE votes v SET outcome = u.o FROM unnest($2::text[], $3::text[], $4::text[])"
            " AS u(voter, sub, o) WHERE v.camp_id = $1 AND v.voter_id = u.voter"
            " AND v.submission_id = u.sub AND v.outcome IS NULL",
            camp_id,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [outcomes[k] for k in keys],
        )


async def history(conn: Conn, camp_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT week, closed_at, ranking FROM weeks WHERE camp_id = $1 ORDER BY week", camp_id
    )
    return [
        {
            "week": r["week"],
            "closed_at": r["closed_at"],
            "ranking": json.loads(r["ranking"]) if isinstance(r["ranking"], str) else r["ranking"],
        }
        for r in rows
    ]


async def waiting_votes(conn: Conn) -> int:
    """Votes not settled whose entry is not known (yet)."""
    value = await conn.fetchval(
        "SELECT count(*) FROM votes v WHERE v.outcome IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM entries e WHERE e.camp_id = v.camp_id"
        " AND e.submission_id = v.submission_id)"
    )
    return int(value or 0)
