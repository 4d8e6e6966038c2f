"""The points service's business step: a batch of new events in, ledger entries, redemption
answers and output events out, all inside the batch's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from services.points import ledger, rules, store, streaks
from services.points.config import PointsRules
from services.points.metrics import PointsMetrics
from services.points.rules import Award, CampInfo, Invalid
from shared import gate, leave_store, topics
from shared.config import Loaded
from shared.db import Caution, Contended
from shared.events import (
    Camp,
    CheckIn,
    ContestResult,
    Enrollment,
    Event,
    Gift,
    Leave,
    RedemptionRequest,
    RedemptionResult,
    Review,
    Share,
    Submission,
)
from shared.leave import NO_LEAVE, leave_days
from shared.outbox import OutMessage, derived_event_id
from shared.processor import Received, Refused

INPUTS = [
    topics.CAMPS,
    topics.ENROLLMENTS,  # display names, for the leaderboards
    topics.CHECKINS,
    topics.SUBMISSIONS,
    topics.REVIEWS,
    topics.SHARES,
    topics.REDEMPTIONS,
    topics.CONTESTS,
    topics.GIFTS,
    topics.LEAVES,  # days of leave neither break nor extend a streak
]
MODELS = {t: topics.MODELS[t] for t in INPUTS}
# Rules that need the camp's definition (its days, start date, timezone); the integrity gate
# holds these events until it is known.
NEEDS_CAMP = (CheckIn, Share)

RulesSource = Callable[[], Loaded[PointsRules]]
Result = OutMessage | Refused
# After the ledger refused a cause said unpaid, the next batches probe every cause (one of
# them is the batch run again).
PROBE_ALL_AFTER_REFUSAL = 100


class PointsHandler:
    """Pays what the rules in force say, once per cause, and answers redemption requests."""

    def __init__(
        self, current_rules: RulesSource, metrics: PointsMetrics, leave_cap: int | None = None
    ) -> None:
        self._rules = current_rules
        self._metrics = metrics
        self._leave_cap = leave_cap
        self._caution = Caution(PROBE_ALL_AFTER_REFUSAL)

    def rules(self) -> Loaded[PointsRules]:
        """The rules in force (the read API shows what they decide)."""
        return self._rules()

    async def __call__(self, conn: asyncpg.Connection, events: Sequence[Received]) -> list[Result]:
        loaded = self._rules()
        ready = events
        camps = await self._with_camps(conn, events)
        await store.save_students(conn, [i.event for i in ready if isinstance(i.event, Enrollment)])
        results: list[Result] = []
        leaves = [i.event for i in ready if isinstance(i.event, Leave)]
        await leave_store.save_leaves(conn, leaves)  # before the streaks below count runs
        awards, streaked, unpaid = await self._checkins(conn, ready, camps, loaded.model, results)
        awards += await self._shares(conn, ready, camps, loaded.model)
        for item in ready:
            awards += _simple_awards(item.event, loaded.model)
        entries = await self._record(conn, awards, loaded.version, unpaid)
        accepted: list[RedemptionRequest] = []
        entries += await self._redemptions(conn, ready, loaded, results, accepted)
        # a leave or a streak freeze bought can complete a run without a new check-in
        sources: dict[tuple[str, str], Event] = {(x.camp_id, x.student_id): x for x in leaves}
        for r in accepted:
            if r.item_id == loaded.model.for_camp(r.camp_id).streak.freeze.item_id:
                sources[(r.camp_id, r.student_id)] = r
        more = await streaks.restreak(conn, sources, streaked, loaded.model, self._leave_cap)
        entries += await ledger.record_awards(conn, more, loaded.version)
        self._metrics.count(entries)  # their gamify.points events are in the outbox already
        return results

    async def _record(
        self,
        conn: asyncpg.Connection,
        awards: list[Award],
        rules_version: str,
        unpaid: set[ledger.Cause],
    ) -> list[Award]:
        """The ledger's record_awards, trusting `unpaid` unless a recent batch proved it
        wrong: a racing writer's day missing from the calendar's snapshot, or a check-in paid
        with no day in the calendar (a calendar deleted by hand, say)."""
        if self._caution.careful():
            unpaid = set()
        try:
            return await ledger.record_awards(conn, awards, rules_version, unpaid)
        except Contended:
            self._caution.failed()
            raise

    async def _with_camps(
        self, conn: asyncpg.Connection, events: Sequence[Received]
    ) -> dict[str, CampInfo]:
        """Save camp definitions; the camps of the check-ins and shares at hand. The integrity
        gate passes those on only once their camp is known (a camp and the events it releases
        come in one batch), so every one of them finds its camp here: in the gate's read of
        them, or (a camp the gate kept before it kept camps' lengths) in this service's table."""
        await store.save_camps(conn, [i.event for i in events if isinstance(i.event, Camp)])
        wanted = {i.event.camp_id for i in events if isinstance(i.event, NEEDS_CAMP)}
        read = gate.camps_read()
        camps = {
            c: CampInfo(c, k.starts_on, k.days, k.timezone)
            for c in wanted
            if (k := read.get(c)) is not None and k.days is not None
        }
        return camps | await store.load_camps(conn, wanted - camps.keys())

    async def _checkins(
        self,
        conn: asyncpg.Connection,
        ready: Sequence[Received],
        camps: dict[str, CampInfo],
        all_rules: PointsRules,
        results: list[Result],
    ) -> tuple[list[Award], set[tuple[str, str]], set[ledger.Cause]]:
        """Check-in and streak awards; the students whose streaks were counted; and the
        check-in awards known unpaid: for a day not in the student's calendar before this
        batch (a day's check-in is paid in the transaction that adds the day), the ledger
        need not be asked."""
        counted: dict[tuple[str, str], CheckIn] = {}
        facts: list[tuple[str, str, int]] = []
        awards: list[Award] = []
        for item in ready:
            c = item.event
            if not isinstance(c, CheckIn):
                continue
            camp_rules = all_rules.for_camp(c.camp_id)
            verdict = rules.judge_checkin(c, camps[c.camp_id])
            if isinstance(verdict, Invalid):
                results.append(Refused(item, verdict.error))
            else:
                facts.append((c.camp_id, c.student_id, c.day))
                counted[(c.camp_id, c.student_id)] = c
                awards += rules.checkin_awards(c, camp_rules)
        camp_ids = {camp_id for camp_id, _student in counted}
        fingerprints = {c: rules.streak_fingerprint(all_rules.for_camp(c)) for c in camp_ids}
        calendars = await store.record_checkin_days(conn, facts, fingerprints)
        days_before = {p: set(c.days_before) for p, c in calendars.items()}
        unpaid = {
            ledger.cause_of(a)
            for a in awards
            if a.camp_day not in days_before[(a.camp_id, a.student_id)]
        }
        through = await streaks.transparent_days(
            conn,
            {p: calendars[p].days for p in counted},
            all_rules,
            self._leave_cap,
            {
                p: leave_days(calendars[p].leave_spans, self._leave_cap)
                for p in counted
                if calendars[p].leave_spans
            },
        )
        for (camp_id, student_id), latest in counted.items():
            calendar = calendars[(camp_id, student_id)]
            awards += rules.streak_awards(
                camp_id,
                student_id,
                calendar.days,
                all_rules.for_camp(camp_id),
                latest,
                # paid under these milestones before; otherwise every reached one again
                judged=calendar.days_before
                if calendar.streak_rules_before == fingerprints[camp_id]
                else (),
                leave=through.get((camp_id, student_id), NO_LEAVE),
            )
        return awards, set(counted), unpaid

    async def _shares(
        self,
        conn: asyncpg.Connection,
        ready: Sequence[Received],
        camps: dict[str, CampInfo],
        all_rules: PointsRules,
    ) -> list[Award]:
        shares = [(i.event, camps[i.event.camp_id]) for i in ready if isinstance(i.event, Share)]
        if not shares:
            return []
        paid, per_day = await store.share_state(
            conn, {(s.camp_id, s.student_id) for s, _ in shares}
        )
        awards, capped = rules.share_awards(shares, paid, per_day, all_rules.for_camp)
        self._metrics.ignored.labels("share_cap").inc(capped)
        return awards

    async def _redemptions(
        self,
        conn: asyncpg.Connection,
        ready: Sequence[Received],
        loaded: Loaded[PointsRules],
        results: list[Result],
        accepted: list[RedemptionRequest],
    ) -> list[Award]:
        unique: dict[tuple[str, str], RedemptionRequest] = {}
        for item in ready:
            if isinstance(item.event, RedemptionRequest):
                unique.setdefault((item.event.camp_id, item.event.request_id), item.event)
        if not unique:
            return []
        balances = await store.lock_balances(
            conn, {(r.camp_id, r.student_id) for r in unique.values()}
        )
        undecided = await store.undecided_requests(conn, list(unique))
        todo = [r for key, r in unique.items() if key in undecided]
        decisions = rules.decide_redemptions(todo, balances, loaded.model.for_camp)
        await store.save_decisions(conn, decisions)
        for d in decisions:
            self._metrics.redemptions.labels("accepted" if d.accepted else "rejected").inc()
            results.append(_redemption_message(d))
        accepted += [d.request for d in decisions if d.accepted]
        deductions = [rules.redemption_award(d) for d in decisions if d.accepted]
        return await ledger.record_awards(conn, deductions, loaded.version)


def _simple_awards(event: object, all_rules: PointsRules) -> list[Award]:
    """Rules that need nothing but the event and the camp's rules."""
    if isinstance(event, Submission):
        return rules.submission_awards(event, all_rules.for_camp(event.camp_id))
    if isinstance(event, Review):
        return rules.review_awards(event, all_rules.for_camp(event.camp_id))
    if isinstance(event, ContestResult):
        return rules.contest_awards(event, all_rules.for_camp(event.camp_id))
    if isinstance(event, Gift):
        return rules.gift_awards(event, all_rules.for_camp(event.camp_id))
    return []


def _redemption_message(decision: rules.RedemptionDecision) -> OutMessage:
    r = decision.request
    event = RedemptionResult(
        event_id=derived_event_id("redemption", r.camp_id, r.request_id),
        occurred_at=r.occurred_at,
        camp_id=r.camp_id,
        student_id=r.student_id,
        request_id=r.request_id,
        item_id=r.item_id,
        cost=r.cost,
        status="accepted" if decision.accepted else "rejected",
        reason=decision.reason,
    )
    return OutMessage(topics.REDEMPTION_RESULTS, r.student_id, event)
