"""Pure contest rules: camp weeks, which votes count, the ranking, and voting rings.
No I/O, no clock reads. Every decision is a function of the stored facts, so it does not
depend on the order in which entries, votes, reviews and enrollments arrived."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.camp_days import camp_day
from shared.events import RankedEntry

WEEK_DAYS = 7


@dataclass(frozen=True, slots=True)
class CampWeeks:
    starts_on: date
    days: int
    timezone: str

    @property
    def weeks(self) -> int:
        return -(-self.days // WEEK_DAYS)

    def week_of(self, at: datetime) -> int | None:
        """The camp week `at` falls in, or None outside the camp."""
        day = camp_day(self.starts_on, self.timezone, at)
        if not 1 <= day <= self.days:
            return None
        return (day - 1) // WEEK_DAYS + 1

    def closes_at(self, week: int) -> datetime:
        """The end of the week's last day (the camp's last day for a short final week)."""
        last_day = min(week * WEEK_DAYS, self.days)
        end_date = self.starts_on + timedelta(days=last_day)
        return datetime.combine(end_date, time(0, 0), ZoneInfo(self.timezone))

    def opens_at(self, week: int) -> datetime:
        start = self.starts_on + timedelta(days=(week - 1) * WEEK_DAYS)
        return datetime.combine(start, time(0, 0), ZoneInfo(self.timezone))

    def closed_weeks(self, now: datetime) -> list[int]:
        return [w for w in range(1, self.weeks + 1) if self.closes_at(w) <= now]


@dataclass(frozen=True, slots=True)
class Entry:
    submission_id: str
    student_id: str
    submitted_at: datetime
    week: int | None


@dataclass(frozen=True, slots=True)
class Ballot:
    voter_id: str
    submission_id: str
    occurred_at: datetime


COUNTED = "counted"
REJECTIONS = ("unknown_entry", "not_enrolled", "own_work", "week_closed", "over_cap")


def judge_votes(
    ballots: Iterable[Ballot],
    entries: Mapping[str, Entry],
    enrolled: Collection[str],
    weeks: CampWeeks,
    cap: int,
) -> dict[tuple[str, str], str]:
    """(voter, submission) -> "counted" or the reason the vote does not count.

    A voter's votes in a week count in the order they were cast (then by submission id), up
    to `cap`; a rejected vote does not use up the cap.
    """
    outcome: dict[tuple[str, str], str] = {}
    used: dict[tuple[str, int], int] = defaultdict(int)
    for b in sorted(ballots, key=lambda b: (b.occurred_at, b.submission_id, b.voter_id)):
        key = (b.voter_id, b.submission_id)
        entry = entries.get(b.submission_id)
        if entry is None or entry.week is None:
            outcome[key] = "unknown_entry"
        elif b.voter_id not in enrolled:
            outcome[key] = "not_enrolled"
        elif b.voter_id == entry.student_id:
            outcome[key] = "own_work"
        elif b.occurred_at >= weeks.closes_at(entry.week):
            outcome[key] = "week_closed"
        elif used[(b.voter_id, entry.week)] >= cap:
            outcome[key] = "over_cap"
        else:
            used[(b.voter_id, entry.week)] += 1
            outcome[key] = COUNTED
    return outcome


def week_of_ballot(ballot: Ballot, entries: Mapping[str, Entry], weeks: CampWeeks) -> int | None:
    """The week a vote belongs to: its entry's, else (entry unknown) the week it was cast in."""
    entry = entries.get(ballot.submission_id)
    if entry is not None and entry.week is not None:
        return entry.week
    return weeks.week_of(ballot.occurred_at)


def rank(
    entries: Sequence[Entry],
    votes: Mapping[str, int],
    best_scores: Mapping[str, int],
    min_votes_for_prize: int = 1,
) -> list[RankedEntry]:
    """The week's ranking: each student by their best entry; by votes, then best review
    score (unreviewed last), then the earlier submission, then the submission id. Only entries
    with at least `min_votes_for_prize` counted votes earn their rank's prizes."""

    def order(e: Entry) -> tuple[int, int, datetime, str]:
        score = best_scores.get(e.submission_id)
        return (
            -votes.get(e.submission_id, 0),
            -(score if score is not None else -1),
            e.submitted_at,
            e.submission_id,
        )

    best: dict[str, Entry] = {}
    for e in sorted(entries, key=order):
        best.setdefault(e.student_id, e)
    ranked = sorted(best.values(), key=order)
    return [
        RankedEntry(
            rank=i,
            student_id=e.student_id,
            submission_id=e.submission_id,
            votes=votes.get(e.submission_id, 0),
            score=best_scores.get(e.submission_id),
            prize=votes.get(e.submission_id, 0) >= min_votes_for_prize,
        )
        for i, e in enumerate(ranked, start=1)
    ]


def voting_rings(
    edges: Iterable[tuple[str, str]], min_size: int, max_size: int, min_votes: int
) -> list[list[str]]:
    """Groups of students who vote only for each other: a strongly connected group (each
    member reaches every other through votes) that no vote leaves, each member having cast at
    least `min_votes`. `edges` are the counted votes as (voter, author of the work)."""
    out: dict[str, list[str]] = defaultdict(list)
    nodes: set[str] = set()
    for voter, author in edges:
        out[voter].append(author)
        nodes.update((voter, author))
    rings = []
    for component in _strongly_connected(nodes, out):
        members = set(component)
        if not min_size <= len(members) <= max_size:
            continue
        closed = all(set(out[m]) <= members for m in members)
        enough = all(len(out[m]) >= min_votes for m in members)
        if closed and enough:
            rings.append(sorted(members))
    return sorted(rings)


def _strongly_connected(nodes: Iterable[str], out: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on large camps)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = out.get(node, [])
            if i < len(targets):
                work.append((node, i + 1))
                nxt = targets[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


@dataclass(frozen=True, slots=True)
class WeekResult:
    ranking: list[RankedEntry]
    outcomes: dict[tuple[str, str], str]  # (voter, submission) -> counted or the reason
    counted: list[tuple[str, str]]  # (voter, author) of every counted vote


def settle(
    week: int,
    entries: Mapping[str, Entry],
    ballots: Sequence[Ballot],
    enrolled: Collection[str],
    scores: Mapping[str, int],
    weeks: CampWeeks,
    cap: int,
    min_votes_for_prize: int = 1,
) -> WeekResult:
    """Everything about one week, from the camp's stored facts."""
    judged = judge_votes(ballots, entries, enrolled, weeks, cap)
    outcomes = {
        (b.voter_id, b.submission_id): judged[(b.voter_id, b.submission_id)]
        for b in ballots
        if week_of_ballot(b, entries, weeks) == week
    }
    votes: dict[str, int] = defaultdict(int)
    counted = []
    for (voter, submission), outcome in outcomes.items():
        if outcome == COUNTED:
            votes[submission] += 1
            counted.append((voter, entries[submission].student_id))
    week_entries = [e for e in entries.values() if e.week == week]
    ranking = rank(week_entries, votes, scores, min_votes_for_prize)
    return WeekResult(ranking, outcomes, sorted(counted))
