"""The points read side over HTTP (JSON): balances, histories, leaderboards."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.points import boards, store, streaks
from services.points.config import PointsRules
from shared.api import Args, Param, Route
from shared.config import Loaded
from shared.service import ServiceContext

TOP = Param("top", "query", "how many students", (1, 1000), 10)
NAMES = Param(
    "names",
    "query",
    "show display names, or hide them (anonymous)",
    default="show",
    choices=("show", "hide"),
)


def routes(ctx: ServiceContext, rules: Callable[[], Loaded[PointsRules]]) -> Sequence[Route]:
    pool = ctx.pool

    async def streak(a: Args) -> object:
        camp_id, student = a["camp_id"], a["student_id"]
        camp = (await store.load_camps(pool, {camp_id}))[camp_id]
        today = max(1, min(camp.day_of(ctx.clock.now()), camp.days))
        pair = (camp_id, student)
        async with pool.acquire() as conn:
            days = (await store.calendar_days(conn, [pair])).get(pair, [])
            view = await streaks.streak_view(
                conn, camp, pair, days, today, rules().model, ctx.settings.leave_max_days
            )
        return {"camp_id": camp_id, "student_id": student, "day": today, **view}

    async def balance(a: Args) -> object:
        camp, student = a["camp_id"], a["student_id"]
        return {
            "camp_id": camp,
            "student_id": student,
            "balance": await store.balance(pool, camp, student),
        }

    async def history(a: Args) -> object:
        student, camp = a["student_id"], a["camp"]
        return {
            "student_id": student,
            "camp_id": camp,
            "entries": await store.history(pool, student, camp, a["limit"]),
        }

    async def board(a: Args, week: int | None) -> object:
        rows = await boards.ranked(pool, a["camp_id"], week) or []
        return {
            "camp_id": a["camp_id"],
            "board": "all" if week is None else "week",
            "week": week,
            "leaderboard": [boards.shown(r, a["names"]) for r in rows[: a["top"]]],
        }

    async def all_time(a: Args) -> object:
        return await board(a, None)

    async def weekly(a: Args) -> object:
        return await board(a, a["week"])

    async def rank(a: Args) -> object:
        rows = await boards.ranked(pool, a["camp_id"], a["week"]) or []
        place = boards.around(rows, a["student_id"], a["around"], a["names"])
        return {
            "camp_id": a["camp_id"],
            "student_id": a["student_id"],
            "board": "all" if a["week"] is None else "week",
            "week": a["week"],
            **place,
        }

    return [
        Route(
            "/camps/{camp_id}/students/{student_id}/streak",
            streak,
            "A student's runs of checked-in days as of now, days of leave, and streak freezes"
            " (held, earned, bought, and the missed days they were used on).",
        ),
        Route(
            "/camps/{camp_id}/students/{student_id}/balance",
            balance,
            "A student's points balance in a camp.",
        ),
        Route(
            "/students/{student_id}/history",
            history,
            "A student's ledger entries, oldest first.",
            (
                Param("camp", "query", "only this camp"),
                Param("limit", "query", "at most this many entries", (1, 10_000), 1000),
            ),
        ),
        Route(
            "/camps/{camp_id}/leaderboard",
            all_time,
            "The students who earned the most points in a camp (redemptions do not lower a"
            " rank; equal totals share one).",
            (TOP, NAMES),
        ),
        Route(
            "/camps/{camp_id}/weeks/{week}/leaderboard",
            weekly,
            "The students who earned the most points in one camp week (days 7W-6 .. 7W).",
            (Param("week", "path", "camp week, from 1", (1, 53)), TOP, NAMES),
        ),
        Route(
            "/camps/{camp_id}/students/{student_id}/rank",
            rank,
            "A student's rank, and the students just above and below, on the all-time board"
            " or one week's.",
            (
                Param(
                    "week",
                    "query",
                    "this camp week's board (default: all-time)",
                    (1, 53),
                    optional=True,
                ),
                Param("around", "query", "students shown above and below", (0, 50), 2),
                NAMES,
            ),
        ),
    ]
