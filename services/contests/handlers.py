"""The contests service's event step: record camps, enrollments, entries, review scores and
votes. Nothing is decided here: a week is ranked from the stored facts when it closes
(closer.py), so arrival order never matters. What arrives for a week already settled changes
nothing and is counted."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import asyncpg

from services.contests import rules, store
from services.contests.metrics import ContestsMetrics
from shared import topics
from shared.events import Camp, Enrollment, Review, Submission, Vote
from shared.outbox import OutMessage
from shared.processor import Received

INPUTS = [
    topics.CAMPS,
    topics.ENROLLMENTS,
    topics.SUBMISSIONS,
    topics.REVIEWS,
    topics.VOTES,
]


class ContestsHandler:
    def __init__(self, metrics: ContestsMetrics) -> None:
        self._metrics = metrics

    async def __call__(
        self, conn: asyncpg.Connection, events: Sequence[Received]
    ) -> list[OutMessage]:
        camps = [r.event for r in events if isinstance(r.event, Camp)]
        enrollments = [r.event for r in events if isinstance(r.event, Enrollment)]
        entries = [
            r.event for r in events if isinstance(r.event, Submission) and r.event.contest_entry
        ]
        reviews = [r.event for r in events if isinstance(r.event, Review)]
        votes = [r.event for r in events if isinstance(r.event, Vote)]
        await store.save_camps(conn, camps)
        await store.save_enrollments(conn, enrollments)
        await store.save_scores(conn, reviews)
        await store.save_entries(conn, entries)
        if entries or votes:
            await self._after_close(conn, entries, votes)
        return []

    async def _after_close(
        self, conn: asyncpg.Connection, entries: list[Submission], votes: list[Vote]
    ) -> None:
        """Count entries, and count and drop votes, that arrive for a week already settled."""
        camp_ids = sorted({e.camp_id for e in entries} | {v.camp_id for v in votes})
        camps = await store.load_camps(conn, camp_ids)
        done = await store.settled(conn, camp_ids)
        for e in entries:
            weeks = camps.get(e.camp_id)
            week = weeks.week_of(e.occurred_at) if weeks else None
            if weeks is not None and week is None:
                self._metrics.entries.labels("outside").inc()
            else:
                late = (e.camp_id, week) in done
                self._metrics.entries.labels("late" if late else "accepted").inc()
        by_camp: dict[str, list[Vote]] = defaultdict(list)
        for v in votes:
            by_camp[v.camp_id].append(v)
        keep: list[Vote] = []
        for camp_id, camp_votes in by_camp.items():
            weeks = camps.get(camp_id)
            if weeks is None:
                keep += camp_votes  # held until the camp is known
                continue
            known = await store.entries_by_id(
                conn, camp_id, weeks, sorted({v.submission_id for v in camp_votes})
            )
            for v in camp_votes:
                ballot = rules.Ballot(v.voter_id, v.submission_id, v.occurred_at)
                week = rules.week_of_ballot(ballot, known, weeks)
                if week is not None and (camp_id, week) in done:
                    self._metrics.votes.labels("late").inc()
                else:
                    keep.append(v)
        duplicates = await store.save_votes(conn, keep)
        self._metrics.cast.inc(len(keep) - duplicates)
        if duplicates:
            self._metrics.votes.labels("duplicate").inc(duplicates)
