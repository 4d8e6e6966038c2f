"""The contests read side over HTTP (JSON): the weeks of a camp with their results, the live
leaderboard of a week, and the report of suspicious voting."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp.web import Response

from services.contests import rules, store
from services.contests.config import ContestBook
from shared.api import Args, Param, Route
from shared.config import Loaded
from shared.http import json_response
from shared.service import ServiceContext

MAX_WEEK = 53  # a camp has at most 366 days


def routes(ctx: ServiceContext, book: Callable[[], Loaded[ContestBook]]) -> Sequence[Route]:
    pool = ctx.pool

    async def camp_weeks(a: Args) -> tuple[str, rules.CampWeeks]:
        """The camp's weeks; shared.api answered 404 before the view if it is unknown."""
        camp_id = a["camp_id"]
        return camp_id, (await store.load_camps(pool, [camp_id]))[camp_id]

    def status(weeks: rules.CampWeeks, week: int, settled: set[int]) -> str:
        if week in settled:
            return "settled"
        now = ctx.clock.now()
        if weeks.closes_at(week) <= now:
            return "closing"
        return "open" if weeks.opens_at(week) <= now else "upcoming"

    async def weeks_of_camp(a: Args) -> object:
        camp_id, weeks = await camp_weeks(a)
        past = {h["week"]: h for h in await store.history(pool, camp_id)}
        out: list[dict[str, Any]] = []
        for w in range(1, weeks.weeks + 1):
            item: dict[str, Any] = {
                "week": w,
                "opens_at": weeks.opens_at(w),
                "closes_at": weeks.closes_at(w),
                "status": status(weeks, w, set(past)),
            }
            if w in past:
                item["ranking"] = past[w]["ranking"]
            out.append(item)
        return {"camp_id": camp_id, "weeks": out}

    async def week_result(a: Args) -> tuple[str, int, rules.CampWeeks, Any] | Response:
        """The week's result as of now, or the 404 of a week the camp does not have."""
        camp_id, weeks = await camp_weeks(a)
        week = a["week"]
        if not 1 <= week <= weeks.weeks:
            return json_response({"error": f"camp {camp_id} has weeks 1..{weeks.weeks}"}, 404)
        facts = await store.camp_facts(pool, camp_id, weeks)
        model = book().model
        result = facts.settle(week, weeks, model.cap(camp_id), model.min_votes(camp_id))
        return camp_id, week, weeks, result

    async def leaderboard(a: Args) -> object:
        found = await week_result(a)
        if isinstance(found, Response):
            return found
        camp_id, week, weeks, result = found
        settled = {h["week"]: h for h in await store.history(pool, camp_id)}
        ranking = (
            settled[week]["ranking"]
            if week in settled
            else [r.model_dump() for r in result.ranking]
        )
        return {
            "camp_id": camp_id,
            "week": week,
            "status": status(weeks, week, set(settled)),
            "closes_at": weeks.closes_at(week),
            "ranking": ranking,
            "votes": dict(Counter(result.outcomes.values())),
        }

    async def suspicious(a: Args) -> object:
        found = await week_result(a)
        if isinstance(found, Response):
            return found
        camp_id, week, _, result = found
        rule = book().model.suspicion
        cap = book().model.cap(camp_id)
        per_voter = Counter(voter for voter, _ in result.counted)
        rejected: dict[str, Counter[str]] = {}
        for (voter, _), outcome in result.outcomes.items():
            if outcome != rules.COUNTED:
                rejected.setdefault(voter, Counter())[outcome] += 1
        return {
            "camp_id": camp_id,
            "week": week,
            "rings": rules.voting_rings(
                result.counted,
                rule.min_ring_size,
                rule.max_ring_size,
                rule.min_votes_per_member,
            ),
            "voters_at_cap": sorted(v for v, n in per_voter.items() if n >= cap),
            "rejected_votes_by_voter": {
                v: dict(c) for v, c in sorted(rejected.items(), key=lambda i: i[0])
            },
        }

    week = (Param("week", "path", "the camp week, from 1", (1, MAX_WEEK)),)
    return [
        Route(
            "/camps/{camp_id}/contests",
            weeks_of_camp,
            "The contest weeks of a camp, with the results of those settled.",
        ),
        Route(
            "/camps/{camp_id}/contests/{week}",
            leaderboard,
            "The ranking of a week: final once settled, live while open.",
            week,
            not_found="the camp has no such week",
        ),
        Route(
            "/camps/{camp_id}/contests/{week}/suspicious",
            suspicious,
            "Voting rings and voters at the cap in a week.",
            week,
            not_found="the camp has no such week",
        ),
    ]
