"""The points read side over HTTP (JSON): balances, histories, leaderboards."""

from __future__ import annotations

from collections.abc import Sequence

from services.points import store
from shared.api import Args, Param, Route
from shared.service import ServiceContext


def routes(ctx: ServiceContext) -> Sequence[Route]:
    pool = ctx.pool

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

    async def leaderboard(a: Args) -> object:
        camp = a["camp_id"]
        return {"camp_id": camp, "leaderboard": await store.leaderboard(pool, camp, a["top"])}

    return [
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
            leaderboard,
            "The students with the most points in a camp.",
            (Param("top", "query", "how many students", (1, 1000), 10),),
        ),
    ]
