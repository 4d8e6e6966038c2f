"""The points rules, table-driven and exhaustive at the edges."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.points import rules
from services.points.config import CheckinRule, PointsRules, RuleSet, ShareRule
from services.points.rules import Award, CampInfo, Invalid
from shared.events import (
    CheckIn,
    ContestResult,
    Gift,
    RankedEntry,
    RedemptionRequest,
    Review,
    Share,
    Submission,
)

AT = datetime(2026, 11, 22, 12, tzinfo=UTC)
CAMP = CampInfo("c", date(2026, 11, 20), 21, "Asia/Shanghai")
DEFAULTS = PointsRules()


def checkin(day: int, at: datetime = AT, event_id: str | None = None) -> CheckIn:
    return CheckIn(
        event_id=event_id or f"e{day}", occurred_at=at, camp_id="c", student_id="s", day=day
    )


# ---- check-ins ----


@pytest.mark.parametrize("day", [1, 2, 21])
def test_a_checkin_pays_the_configured_points_for_its_day(day: int) -> None:
    assert rules.checkin_awards(checkin(day), DEFAULTS) == [
        Award("c", "s", "checkin", f"day:{day}", 10, f"e{day}", AT, day)
    ]


def test_two_checkins_of_one_day_share_their_cause() -> None:
    first = rules.checkin_awards(checkin(3), DEFAULTS)[0]
    again = rules.checkin_awards(checkin(3, event_id="other"), DEFAULTS)[0]
    assert (first.rule_id, first.cause) == (again.rule_id, again.cause)


@pytest.mark.parametrize(
    ("points", "enabled", "paid"), [(0, True, []), (25, True, [25]), (25, False, [])]
)
def test_checkin_amount_and_switch_come_from_the_rules(
    points: int, enabled: bool, paid: list[int]
) -> None:
    r = RuleSet(checkin=CheckinRule(points=points, enabled=enabled))
    assert [a.delta for a in rules.checkin_awards(checkin(1), r)] == paid


@pytest.mark.parametrize(
    ("day", "verdict"),
    [(21, None), (22, Invalid("day 22 is beyond camp c's 21 days"))],
)
def test_judge_checkin(day: int, verdict: object) -> None:
    assert rules.judge_checkin(checkin(day, AT), CAMP) == verdict


@pytest.mark.parametrize(
    ("at", "tz", "day"),
    [
        (datetime(2026, 11, 19, 15, 59, tzinfo=UTC), "Asia/Shanghai", 0),
        (datetime(2026, 11, 19, 16, 0, tzinfo=UTC), "Asia/Shanghai", 1),
        (datetime(2026, 11, 20, 4, 59, tzinfo=UTC), "America/New_York", 0),
        (datetime(2026, 11, 20, 5, 0, tzinfo=UTC), "America/New_York", 1),
    ],
)
def test_camp_day_follows_the_camp_timezone(at: datetime, tz: str, day: int) -> None:
    assert CampInfo("c", date(2026, 11, 20), 21, tz).day_of(at) == day


# ---- streaks ----


@pytest.mark.parametrize(
    ("days", "run"),
    [
        ([], 0),
        ([5], 1),
        ([1, 2, 3], 3),
        ([3, 1, 2], 3),
        ([1, 2, 4, 5, 6], 3),
        ([1, 1, 2], 2),
        (list(range(1, 22)), 21),
        ([*range(1, 7), 8], 6),
        ([*range(1, 9)], 8),
    ],
)
def test_longest_run(days: list[int], run: int) -> None:
    assert rules.longest_run(days) == run


@pytest.mark.parametrize(
    ("days", "milestones"),
    [
        (range(1, 7), []),
        (range(1, 8), [7]),
        ([*range(1, 7), 8], []),  # a gap at 7
        ([*range(1, 9)], [7]),  # the make-up for day 7 closed the gap
        (range(1, 14), [7]),
        (range(1, 15), [7, 14]),
        (range(1, 22), [7, 14, 21]),
        ([*range(1, 8), *range(9, 16)], [7]),  # two runs of 7: the bonus once
    ],
)
def test_streak_milestones_reached_by_the_longest_run(days: object, milestones: list[int]) -> None:
    awards = rules.streak_awards("c", "s", list(days), DEFAULTS, checkin(1))  # type: ignore[call-overload]
    assert [a.cause for a in awards] == [f"run:{m}" for m in milestones]
    assert all(a.delta == 50 and a.rule_id == "streak" for a in awards)


@settings(max_examples=300)
@given(
    days=st.lists(st.integers(1, 40), max_size=40),
    leave=st.frozensets(st.integers(1, 40), max_size=10),
    judged=st.lists(st.integers(1, 40), max_size=20),
    milestones=st.lists(st.integers(1, 45), max_size=4, unique=True).map(sorted),
)
@example(days=list(range(1, 8)), leave=frozenset(), judged=[], milestones=[7])  # just enough
@example(days=[1, 2, 2, 3], leave=frozenset({4}), judged=[], milestones=[3])
def test_streak_awards_are_the_milestones_between_the_judged_run_and_the_run(
    days: list[int], leave: frozenset[int], judged: list[int], milestones: list[int]
) -> None:
    """Whatever shortcut streak_awards takes, it pays what the two runs say."""
    camp_rules = PointsRules.model_validate(
        {"camps": {"c": {"streak": {"milestones": milestones}}}}
    ).for_camp("c")
    awards = rules.streak_awards("c", "s", days, camp_rules, checkin(1), judged, leave)
    run, done = rules.longest_run(days, leave), rules.longest_run(judged)
    assert [a.cause for a in awards] == [f"run:{m}" for m in milestones if done < m <= run]


def test_a_90_day_camp_can_pay_streaks_at_30_60_90() -> None:
    r = PointsRules.model_validate({"camps": {"long": {"streak": {"milestones": [30, 60, 90]}}}})
    assert [
        a.cause
        for a in rules.streak_awards("long", "s", range(1, 61), r.for_camp("long"), checkin(1))
    ] == ["run:30", "run:60"]
    assert [
        a.cause for a in rules.streak_awards("c", "s", range(1, 61), r.for_camp("c"), checkin(1))
    ] == ["run:7", "run:14", "run:21"]


@given(
    days=st.sets(st.integers(1, 40), max_size=40),
    later=st.sets(st.integers(1, 40), max_size=40),
)
@example(days=set(range(1, 8)), later=set())  # judged exactly up to a milestone
@example(days=set(range(1, 7)), later={7, 8})
def test_judged_days_propose_only_the_milestones_they_had_not_reached(
    days: set[int], later: set[int]
) -> None:
    """Paying in two steps, the second told what the first judged, pays exactly what one step
    over all the days pays, each milestone once."""
    first = rules.streak_awards("c", "s", days, DEFAULTS, checkin(1))
    second = rules.streak_awards("c", "s", days | later, DEFAULTS, checkin(2), judged=days)
    causes = [a.cause for a in first + second]
    whole = rules.streak_awards("c", "s", days | later, DEFAULTS, checkin(2))
    assert sorted(causes) == sorted(a.cause for a in whole)
    assert len(causes) == len(set(causes))


def test_judged_days_that_undercount_only_propose_more() -> None:
    all_days = set(range(1, 16))
    assert [
        a.cause
        for a in rules.streak_awards("c", "s", all_days, DEFAULTS, checkin(15), judged=range(1, 14))
    ] == ["run:14"]
    assert [
        a.cause
        for a in rules.streak_awards("c", "s", all_days, DEFAULTS, checkin(15), judged=range(1, 3))
    ] == ["run:7", "run:14"]


@pytest.mark.parametrize(
    ("streak", "fingerprint"),
    [
        ({}, "7,14,21"),
        ({"milestones": [30, 60, 90]}, "30,60,90"),
        ({"enabled": False}, ""),
        ({"points": 0}, ""),
    ],
)
def test_streak_fingerprint_names_the_milestones_that_pay(
    streak: dict[str, object], fingerprint: str
) -> None:
    r = PointsRules.model_validate({"streak": streak})
    assert rules.streak_fingerprint(r.for_camp("c")) == fingerprint


# ---- homework, reviews, shares ----


def submission(tier: str, assignment: str = "a1") -> Submission:
    return Submission(
        event_id="sub",
        occurred_at=AT,
        camp_id="c",
        student_id="s",
        submission_id="w1",
        assignment_id=assignment,
        tier=tier,  # type: ignore[arg-type]
        title="t",
        url="u",
        contest_entry=False,
    )


@pytest.mark.parametrize(("tier", "points"), [("basic", 10), ("practice", 30), ("challenge", 50)])
def test_submissions_pay_by_tier_once_per_assignment(tier: str, points: int) -> None:
    [award] = rules.submission_awards(submission(tier), DEFAULTS)
    assert (award.rule_id, award.cause, award.delta) == ("submission", "assignment:a1", points)


@pytest.mark.parametrize(("excellent", "paid"), [(True, [20]), (False, [])])
def test_only_excellent_reviews_pay(excellent: bool, paid: list[int]) -> None:
    review = Review(
        event_id="r",
        occurred_at=AT,
        camp_id="c",
        student_id="s",
        submission_id="w1",
        reviewer_id="t",
        score=95,
        excellent=excellent,
    )
    awards = rules.review_awards(review, DEFAULTS)
    assert [a.delta for a in awards] == paid
    assert all(a.cause == "submission:w1" for a in awards)


def share(sub: str, at: datetime = AT) -> tuple[Share, CampInfo]:
    return (
        Share(event_id=f"sh-{sub}", occurred_at=at, camp_id="c", student_id="s", submission_id=sub),
        CAMP,
    )


def test_shares_pay_once_per_submission() -> None:
    awards, capped = rules.share_awards(
        [share("w1"), share("w1"), share("w2")], set(), {}, lambda _c: DEFAULTS
    )
    assert [(a.cause, a.delta) for a in awards] == [("submission:w1", 2), ("submission:w2", 2)]
    assert capped == 0


def test_a_share_already_paid_pays_nothing() -> None:
    awards, _ = rules.share_awards(
        [share("w1")], {("c", "s", "submission:w1")}, {}, lambda _c: DEFAULTS
    )
    assert awards == []


@pytest.mark.parametrize(
    ("cap", "already", "paid", "capped"),
    [(None, 0, 3, 0), (6, 0, 3, 0), (4, 0, 2, 1), (4, 2, 1, 2), (0, 0, 0, 3)],
)
def test_the_daily_share_cap_holds(cap: int | None, already: int, paid: int, capped: int) -> None:
    r = RuleSet(share=ShareRule(daily_cap=cap))
    shares = [share("w1"), share("w2"), share("w3")]
    awards, refused = rules.share_awards(shares, set(), {("c", "s", 3): already}, lambda _c: r)
    assert (len(awards), refused) == (paid, capped)


def test_the_share_cap_is_per_camp_day() -> None:
    r = RuleSet(share=ShareRule(daily_cap=2))
    next_day = datetime(2026, 11, 23, 12, tzinfo=UTC)
    awards, capped = rules.share_awards(
        [share("w1"), share("w2"), share("w3", next_day)], set(), {}, lambda _c: r
    )
    assert [a.camp_day for a in awards] == [3, 4] and capped == 1


# ---- contests, gifts ----


def test_contest_prizes_follow_the_ranking() -> None:
    ranking = [
        RankedEntry(rank=i, student_id=f"s{i}", submission_id=f"w{i}", votes=10 - i, score=None)
        for i in range(1, 5)
    ]
    result = ContestResult(
        event_id="k", occurred_at=AT, camp_id="c", week=2, closed_at=AT, ranking=ranking
    )
    awards = rules.contest_awards(result, DEFAULTS)
    assert [(a.student_id, a.delta, a.cause) for a in awards] == [
        ("s1", 100, "week:2"),
        ("s2", 60, "week:2"),
        ("s3", 30, "week:2"),
    ]


@pytest.mark.parametrize(("gift_id", "paid"), [("welcome-back", [20]), ("coupon", [])])
def test_gifts_with_points_pay_once_per_gift(gift_id: str, paid: list[int]) -> None:
    gift = Gift(
        event_id="g1", occurred_at=AT, camp_id="c", student_id="s", gift_id=gift_id, reason="back"
    )
    assert [a.delta for a in rules.gift_awards(gift, DEFAULTS)] == paid


# ---- redemptions ----


def request(rid: str, cost: int, student: str = "s") -> RedemptionRequest:
    return RedemptionRequest(
        event_id=f"q-{rid}",
        occurred_at=AT,
        camp_id="c",
        student_id=student,
        request_id=rid,
        item_id="mug",
        cost=cost,
    )


@pytest.mark.parametrize(
    ("balance", "costs", "accepted"),
    [
        (100, [100], [True]),  # exactly the balance
        (99, [100], [False]),  # one short
        (0, [1], [False]),
        (100, [60, 60], [True, False]),  # the second would go below zero
        (100, [60, 40, 1], [True, True, False]),
    ],
)
def test_redemptions_never_take_a_balance_below_zero(
    balance: int, costs: list[int], accepted: list[bool]
) -> None:
    reqs = [request(f"r{i}", c) for i, c in enumerate(costs)]
    decisions = rules.decide_redemptions(reqs, {("c", "s"): balance}, lambda _c: DEFAULTS)
    assert [d.accepted for d in decisions] == accepted
    spent = sum(d.request.cost for d in decisions if d.accepted)
    assert balance - spent >= 0


def test_a_rejection_says_why() -> None:
    [d] = rules.decide_redemptions([request("r", 50)], {("c", "s"): 30}, lambda _c: DEFAULTS)
    assert d.reason == "insufficient balance: 30 < 50"
    assert rules.redemption_award(rules.RedemptionDecision(request("r", 50), True, "")).delta == -50
