"""The points read side over HTTP (JSON): balances, histories, leaderboards."""

from __future__ import annotations

import json
from collections.abc import Sequence

from aiohttp import web

from services.points import store
from shared.http import json_response
from shared.service import ServiceContext


def _int_param(request: web.Request, name: str, default: int, high: int) -> int:
    raw = request.query.get(name, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name} must be a whole number from 1 to {high}"}),
            content_type="application/json",
        )
    return int(raw)


def routes(ctx: ServiceContext) -> Sequence[web.RouteDef]:
    pool = ctx.pool

    async def balance(request: web.Request) -> web.Response:
        student = request.match_info["student_id"]
        camp = request.match_info["camp_id"]
        return json_response(
            {
                "camp_id": camp,
                "student_id": student,
                "balance": await store.balance(pool, camp, student),
            }
        )

    async def history(request: web.Request) -> web.Response:
        student = request.match_info["student_id"]
        camp = request.query.get("camp")
        limit = _int_param(request, "limit", 1000, 10_000)
        return json_response(
            {
                "student_id": student,
                "camp_id": camp,
                "entries": await store.history(pool, student, camp, limit),
            }
        )

    async def leaderboard(request: web.Request) -> web.Response:
        camp = request.match_info["camp_id"]
        top = _int_param(request, "top", 10, 1000)
        return json_response(
            {"camp_id": camp, "leaderboard": await store.leaderboard(pool, camp, top)}
        )

    return [
        web.get("/camps/{camp_id}/students/{student_id}/balance", balance),
        web.get("/students/{student_id}/history", history),
        web.get("/camps/{camp_id}/leaderboard", leaderboard),
    ]
