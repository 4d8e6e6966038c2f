"""The pure contest rules: weeks, which votes count, ranking with ties at every level, rings."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from services.contests import rules
from services.contests.config import DEFAULT_CONTESTS_FILE, ContestBook
from services.contests.rules import Ballot, CampWeeks, Entry
from shared.config import ConfigError, load_yaml

WEEKS = CampWeeks(date(2026, 11, 20), 21, "Asia/Shanghai")
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # day 1, 20:00 in Shanghai


def at(day: int, hours: float = 0) -> datetime:
    return T0 + timedelta(days=day - 1, hours=hours)


def entry(sub: str, student: str, day: int = 2, hours: float = 0) -> Entry:
    return Entry(sub, student, at(day, hours), WEEKS.week_of(at(day, hours)))


@pytest.mark.parametrize(
    ("moment", "week"),
    [
        ("2026-11-19T23:59:59+08:00", None),
        ("2026-11-20T00:00:00+08:00", 1),
        ("2026-11-26T23:59:59+08:00", 1),
        ("2026-11-27T00:00:00+08:00", 2),
        ("2026-12-10T23:59:59+08:00", 3),
        ("2026-12-11T00:00:00+08:00", None),
    ],
)
def test_week_w_covers_days_7w_minus_6_to_7w(moment: str, week: int | None) -> None:
    assert WEEKS.week_of(datetime.fromisoformat(moment)) == week


def test_a_week_closes_at_the_end_of_its_last_day_and_a_short_last_week_with_the_camp() -> None:
    assert WEEKS.closes_at(1) == datetime.fromisoformat("2026-11-27T00:00:00+08:00")
    ten = CampWeeks(date(2026, 11, 20), 10, "Europe/London")
    assert ten.weeks == 2
    assert ten.closes_at(2) == datetime.fromisoformat("2026-11-30T00:00:00+00:00")
    assert ten.closed_weeks(datetime.fromisoformat("2026-11-29T23:59:59+00:00")) == [1]
    assert ten.closed_weeks(datetime.fromisoformat("2026-11-30T00:00:00+00:00")) == [1, 2]


def test_every_reason_a_vote_does_not_count() -> None:
    entries = {"w1": entry("w1", "amy"), "w2": entry("w2", "bob")}
    enrolled = {"amy", "bob", "cat"}
    ballots = [
        Ballot("cat", "w1", at(3)),  # counted
        Ballot("cat", "nope", at(3)),  # unknown entry
        Ballot("zed", "w1", at(3)),  # not enrolled
        Ballot("amy", "w1", at(3)),  # own work
        Ballot("bob", "w1", WEEKS.closes_at(1)),  # the instant the week closes: too late
        Ballot("amy", "w2", WEEKS.closes_at(1) - timedelta(seconds=1)),  # just in time
    ]
    assert rules.judge_votes(ballots, entries, enrolled, WEEKS, cap=5) == {
        ("cat", "w1"): "counted",
        ("cat", "nope"): "unknown_entry",
        ("zed", "w1"): "not_enrolled",
        ("amy", "w1"): "own_work",
        ("bob", "w1"): "week_closed",
        ("amy", "w2"): "counted",
    }


def test_the_cap_keeps_a_voters_earliest_votes_whatever_the_arrival_order() -> None:
    entries = {f"w{i}": entry(f"w{i}", f"s{i}") for i in range(8)}
    entries["x"] = entry("x", "sx", day=9)  # week 2: a cap of its own
    enrolled = {"voter", *(e.student_id for e in entries.values())}
    ballots = [Ballot("voter", f"w{i}", at(3, i)) for i in range(8)]
    ballots.append(Ballot("voter", "x", at(10)))
    ballots.append(Ballot("voter", "nope", at(2)))  # rejected votes do not use up the cap
    shuffled = ballots[:]
    random.Random(4).shuffle(shuffled)
    judged = rules.judge_votes(shuffled, entries, enrolled, WEEKS, cap=5)
    assert judged == rules.judge_votes(ballots, entries, enrolled, WEEKS, cap=5)
    assert [judged[("voter", f"w{i}")] for i in range(8)] == ["counted"] * 5 + ["over_cap"] * 3
    assert judged[("voter", "x")] == "counted"


def ranked(result: list[object]) -> list[tuple[int, str]]:
    return [(r.rank, r.submission_id) for r in result]  # type: ignore[attr-defined]


def test_ranking_by_votes_then_best_score_then_the_earlier_submission() -> None:
    entries = [
        entry("a", "s1", hours=1),
        entry("b", "s2", hours=2),  # ties a on votes, better score
        entry("c", "s3", hours=3),  # ties b on votes and score, later
        entry("d", "s4", hours=0.5),  # ties c on votes and score, earlier
        entry("e", "s5", hours=0),  # fewest votes
        entry("f", "s6", hours=4),  # ties e on votes; unreviewed ranks below a score of 0
        entry("g", "s7", hours=5),  # same votes, score 0
    ]
    votes = {"a": 3, "b": 3, "c": 3, "d": 3, "e": 1, "f": 0, "g": 0}
    scores = {"a": 80, "b": 90, "c": 90, "d": 90, "e": 99, "g": 0}
    assert ranked(rules.rank(entries, votes, scores)) == [
        (1, "d"),
        (2, "b"),
        (3, "c"),
        (4, "a"),
        (5, "e"),
        (6, "g"),
        (7, "f"),
    ]


def test_ties_on_everything_fall_back_to_the_submission_id() -> None:
    same = at(2)
    entries = [Entry("z", "s1", same, 1), Entry("m", "s2", same, 1)]
    assert ranked(rules.rank(entries, {}, {})) == [(1, "m"), (2, "z")]


def test_a_student_is_ranked_by_their_best_entry_only() -> None:
    entries = [entry("a1", "amy", hours=1), entry("a2", "amy", hours=2), entry("b1", "bob")]
    result = rules.rank(entries, {"a1": 1, "a2": 4, "b1": 2}, {})
    assert [(r.rank, r.student_id, r.submission_id, r.votes) for r in result] == [
        (1, "amy", "a2", 4),
        (2, "bob", "b1", 2),
    ]


def test_an_empty_week_and_a_week_with_one_entry() -> None:
    assert rules.settle(1, {}, [], set(), {}, WEEKS, 5).ranking == []
    only = {"w": entry("w", "amy")}
    result = rules.settle(1, only, [], {"amy"}, {"w": 70}, WEEKS, 5)
    assert [(r.rank, r.student_id, r.votes, r.score) for r in result.ranking] == [(1, "amy", 0, 70)]


def test_settle_keeps_to_its_week() -> None:
    entries = {"w1": entry("w1", "amy", day=2), "w2": entry("w2", "bob", day=9)}
    ballots = [Ballot("bob", "w1", at(3)), Ballot("amy", "w2", at(10))]
    week1 = rules.settle(1, entries, ballots, {"amy", "bob"}, {}, WEEKS, 5)
    assert [r.submission_id for r in week1.ranking] == ["w1"]
    assert week1.outcomes == {("bob", "w1"): "counted"}
    assert week1.counted == [("bob", "amy")]


def test_rings_are_groups_voting_only_for_each_other() -> None:
    edges = [
        ("a", "b"),
        ("b", "a"),  # a pair voting only for each other
        ("c", "d"),
        ("d", "e"),
        ("e", "c"),  # a closed triangle
        ("f", "g"),
        ("g", "f"),
        ("g", "h"),  # g also votes outside: not a ring
        ("x", "a"),  # x votes into the pair: the pair stays closed
    ]
    assert rules.voting_rings(edges, 2, 8, 1) == [["a", "b"], ["c", "d", "e"]]
    assert rules.voting_rings(edges, 3, 8, 1) == [["c", "d", "e"]]
    assert rules.voting_rings(edges, 2, 2, 1) == [["a", "b"]]


def test_rings_in_a_large_graph_without_recursion_limits() -> None:
    n = 5000
    chain = [(f"s{i}", f"s{i + 1}") for i in range(n)] + [(f"s{n}", "s0")]
    assert rules.voting_rings(chain, 2, n + 1, 1) == [sorted(f"s{i}" for i in range(n + 1))]


def test_the_shipped_contests_file_and_per_camp_overrides(tmp_path: Path) -> None:
    book = load_yaml(DEFAULT_CONTESTS_FILE, ContestBook).model
    assert book.cap("any") == 5 and book.gifts("any") == {1: "coupon"}
    path = tmp_path / "contests.yaml"
    path.write_text(
        "vote_cap_per_week: 5\n"
        "camps:\n  c90: {vote_cap_per_week: 3, prize_gifts: {1: book, 2: pen}}\n",
        encoding="utf-8",
    )
    book = load_yaml(path, ContestBook).model
    assert book.cap("c90") == 3 and book.gifts("c90") == {1: "book", 2: "pen"}
    assert book.cap("other") == 5
    path.write_text("vote_cap_per_week: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"contests\.yaml:1"):
        load_yaml(path, ContestBook)
