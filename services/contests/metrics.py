"""The contests service's business metrics (never a student label)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.contests.config import ContestBook
from shared.config import ConfigError, Loaded
from shared.metrics import ConfigFileMetrics

ENTRY_OUTCOMES = ("accepted", "late", "outside")
VOTE_OUTCOMES = (
    "counted",
    "unknown_entry",
    "not_enrolled",
    "own_work",
    "week_closed",
    "over_cap",
    "duplicate",
    "late",
)


class ContestsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.entries = Counter(
            "gamify_contest_entries",
            "Contest entries received, by outcome (accepted, late: its week was already settled,"
            " outside: not within the camp's days).",
            ["outcome"],
            registry=registry,
        )
        self.votes = Counter(
            "gamify_contest_votes",
            "Votes by outcome: counted, or why not (unknown_entry, not_enrolled, own_work,"
            " week_closed, over_cap at settlement; duplicate, late on arrival).",
            ["outcome"],
            registry=registry,
        )
        self.cast = Counter(
            "gamify_contest_votes_cast",
            "Votes taken in as they are cast (each (voter, work) once); judged at the close.",
            registry=registry,
        )
        self.waiting = Gauge(
            "gamify_contest_votes_waiting",
            "Votes held until their entry arrives.",
            registry=registry,
        )
        self.weeks = Counter(
            "gamify_contest_weeks_settled",
            "Contest weeks ranked and published.",
            registry=registry,
        )
        self.prizes = Counter(
            "gamify_contest_prize_gifts",
            "Prize gifts sent, by gift id.",
            ["gift"],
            registry=registry,
        )
        self.closer_clock = Gauge(
            "gamify_contests_closer_clock_seconds",
            "The clock's time (Unix seconds) as of the closer's last completed pass.",
            registry=registry,
        )
        self.file = ConfigFileMetrics(registry, "gamify_contests_definitions", "contests file")

        # Every series exists at 0 from the start, so that increase() sees the first entry,
        # vote or prize after a start (a series born at 1 has no increase).
        for outcome in ENTRY_OUTCOMES:
            self.entries.labels(outcome)
        for outcome in VOTE_OUTCOMES:
            self.votes.labels(outcome)

    def loaded(self, loaded: Loaded[ContestBook]) -> None:
        self.file.loaded(loaded.version)
        book = loaded.model
        gifts = {*book.prize_gifts.values()}
        for camp in book.camps.values():
            gifts.update((camp.prize_gifts or {}).values())
        for gift in gifts:
            self.prizes.labels(gift)

    def error(self, _: ConfigError) -> None:
        self.file.error()
