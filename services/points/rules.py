"""Pure points rules: (state, event, rules) -> awards and decisions. No I/O, no clock, no globals.

Every award names its cause; the ledger pays each (camp, student, rule, cause) at most once, so
applying a rule twice to the same facts is harmless and the order of arrival does not matter.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from services.points.config import RuleSet
from shared.camp_days import camp_day, longest_run
from shared.events import (
    CheckIn,
    ContestResult,
    Event,
    Gift,
    RedemptionRequest,
    Review,
    Share,
    Submission,
)
from shared.leave import NO_LEAVE

RulesFor = Callable[[str], RuleSet]


class Award(NamedTuple):
    """A ledger entry to make. (camp_id, student_id, rule_id, cause) is paid at most once.

    A named tuple, not a frozen dataclass: one or two per event, and a frozen dataclass's
    __init__ sets each field through object.__setattr__ (1.3 us against 0.4 for eight fields)."""

    camp_id: str
    student_id: str
    rule_id: str
    cause: str
    delta: int
    source_event_id: str
    occurred_at: datetime
    camp_day: int | None = None


@dataclass(frozen=True, slots=True)
class CampInfo:
    camp_id: str
    starts_on: date
    days: int
    timezone: str

    def day_of(self, at: datetime) -> int:
        """The camp day (1-based; may be < 1 or > days) on which instant `at` falls."""
        return camp_day(self.starts_on, self.timezone, at)


@dataclass(frozen=True, slots=True)
class Invalid:
    """The event contradicts its camp: it goes to the dead-letter topic with this reason."""

    error: str


def judge_checkin(checkin: CheckIn, camp: CampInfo) -> Invalid | None:
    """None when the check-in counts; otherwise why it does not. (Future days and make-ups
    out of their window never get here: shared.integrity refuses them for every service.)"""
    if checkin.day > camp.days:
        return Invalid(f"day {checkin.day} is beyond camp {camp.camp_id}'s {camp.days} days")
    return None


def checkin_awards(checkin: CheckIn, rules: RuleSet) -> list[Award]:
    """A counted check-in pays once per distinct camp day, make-ups included."""
    rule = rules.checkin
    if not rule.enabled or rule.points <= 0:
        return []
    return [
        Award(
            checkin.camp_id,
            checkin.student_id,
            "checkin",
            f"day:{checkin.day}",
            rule.points,
            checkin.event_id,
            checkin.occurred_at,
            checkin.day,
        )
    ]


def streak_awards(
    camp_id: str,
    student_id: str,
    days: Collection[int],
    rules: RuleSet,
    source: Event,
    judged: Iterable[int] = (),
    leave: Collection[int] = NO_LEAVE,
) -> list[Award]:
    """One bonus per milestone that the longest run of checked-in days has reached.

    Computed from the set of days, not from arrival order: a make-up check-in that closes a gap
    completes the streak it belongs to. `judged` are days whose milestones were paid before
    under these same milestones (see streak_fingerprint): only milestones beyond their run are
    proposed, so a check-in late in a camp does not propose every milestone again. Judged days
    fewer than those really paid only propose more, which the ledger refuses (safe). Days of
    `leave` neither break nor extend the run; the judged run is counted without them, so a
    leave reported later (which can only lengthen runs) proposes what it completes.
    """
    rule = rules.streak
    if not rule.enabled or rule.points <= 0:
        return []
    # Each walk over a student's days costs some 5 us at 20 days, and most check-ins reach
    # no new milestone: a run counts checked-in days only, so one beyond len(days) is not due,
    # nor one the judged run already reached; the run itself is walked only if one is left.
    due = [m for m in rule.milestones if m <= len(days)]
    if due:
        done = longest_run(judged)
        due = [m for m in due if m > done]
    if not due:
        return []
    run = longest_run(days, leave)
    return [
        Award(
            camp_id,
            student_id,
            "streak",
            f"run:{m}",
            rule.points,
            source.event_id,
            source.occurred_at,
        )
        for m in due
        if m <= run
    ]


def streak_fingerprint(rules: RuleSet) -> str:
    """The milestones that pay under these rules, as stored beside a student's calendar.

    A calendar written under the same fingerprint had every milestone its run reached paid, so
    only new ones need proposing; under another (ops added a milestone or enabled streaks),
    every reached milestone is proposed again and the ledger pays those never paid.
    """
    rule = rules.streak
    if not rule.enabled or rule.points <= 0:
        return ""
    return ",".join(map(str, rule.milestones))


def submission_awards(submission: Submission, rules: RuleSet) -> list[Award]:
    """Homework pays by tier, once per (student, assignment)."""
    rule = rules.submission
    points = getattr(rule, submission.tier)
    if not rule.enabled or points <= 0:
        return []
    return [
        Award(
            submission.camp_id,
            submission.student_id,
            "submission",
            f"assignment:{submission.assignment_id}",
            points,
            submission.event_id,
            submission.occurred_at,
        )
    ]


def review_awards(review: Review, rules: RuleSet) -> list[Award]:
    """An excellent review pays its author once per submission."""
    rule = rules.excellent_review
    if not review.excellent or not rule.enabled or rule.points <= 0:
        return []
    return [
        Award(
            review.camp_id,
            review.student_id,
            "excellent_review",
            f"submission:{review.submission_id}",
            rule.points,
            review.event_id,
            review.occurred_at,
        )
    ]


def share_awards(
    shares: Sequence[tuple[Share, CampInfo]],
    already_paid: set[tuple[str, str, str]],
    paid_per_day: dict[tuple[str, str, int], int],
    rules_for: RulesFor,
) -> tuple[list[Award], int]:
    """Shares pay once per shared submission, within the daily cap of the camp day.

    Returns the awards and how many new shares the cap refused.
    """
    awards: list[Award] = []
    capped = 0
    paid = set(already_paid)
    per_day = dict(paid_per_day)
    for share, camp in shares:
        rule = rules_for(share.camp_id).share
        cause = f"submission:{share.submission_id}"
        key = (share.camp_id, share.student_id, cause)
        if not rule.enabled or rule.points <= 0 or key in paid:
            continue
        day = camp.day_of(share.occurred_at)
        so_far = per_day.get((share.camp_id, share.student_id, day), 0)
        if rule.daily_cap is not None and so_far + rule.points > rule.daily_cap:
            capped += 1
            continue
        paid.add(key)
        per_day[(share.camp_id, share.student_id, day)] = so_far + rule.points
        awards.append(
            Award(
                share.camp_id,
                share.student_id,
                "share",
                cause,
                rule.points,
                share.event_id,
                share.occurred_at,
                day,
            )
        )
    return awards, capped


def contest_awards(result: ContestResult, rules: RuleSet) -> list[Award]:
    """Prizes by rank for a closed contest week, once per student and week."""
    rule = rules.contest
    if not rule.enabled:
        return []
    return [
        Award(
            result.camp_id,
            entry.student_id,
            "contest",
            f"week:{result.week}",
            rule.prizes[entry.rank],
            result.event_id,
            result.occurred_at,
        )
        for entry in result.ranking
        if rule.prizes.get(entry.rank, 0) > 0 and entry.earns_prize
    ]


def gift_awards(gift: Gift, rules: RuleSet) -> list[Award]:
    """Gifts that carry points (the welcome-back gift by default), once per gift event."""
    rule = rules.gift
    points = rule.gifts.get(gift.gift_id, 0)
    if not rule.enabled or points <= 0:
        return []
    return [
        Award(
            gift.camp_id,
            gift.student_id,
            "gift",
            f"{gift.gift_id}:{gift.event_id}",
            points,
            gift.event_id,
            gift.occurred_at,
        )
    ]


@dataclass(frozen=True, slots=True)
class RedemptionDecision:
    request: RedemptionRequest
    accepted: bool
    reason: str


def decide_redemptions(
    requests: Sequence[RedemptionRequest],
    balances: dict[tuple[str, str], int],
    rules_for: RulesFor,
) -> list[RedemptionDecision]:
    """Accept a request when the balance covers its cost, in the order given; else reject it."""
    running = dict(balances)
    decisions = []
    for request in requests:
        key = (request.camp_id, request.student_id)
        balance = running.get(key, 0)
        if not rules_for(request.camp_id).redemption.enabled:
            decisions.append(RedemptionDecision(request, False, "redemption is closed"))
        elif balance >= request.cost:
            running[key] = balance - request.cost
            decisions.append(RedemptionDecision(request, True, "balance covers the cost"))
        else:
            decisions.append(
                RedemptionDecision(
                    request, False, f"insufficient balance: {balance} < {request.cost}"
                )
            )
    return decisions


def redemption_award(decision: RedemptionDecision) -> Award:
    """The deduction an accepted redemption makes."""
    r = decision.request
    return Award(
        r.camp_id,
        r.student_id,
        "redemption",
        f"request:{r.request_id}",
        -r.cost,
        r.event_id,
        r.occurred_at,
    )
