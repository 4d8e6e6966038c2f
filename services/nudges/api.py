"""The nudges read side over HTTP (JSON): segment sizes of a camp, a student's nudges."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from services.nudges import store
from shared.http import json_response
from shared.service import ServiceContext


def routes(ctx: ServiceContext) -> Sequence[web.RouteDef]:
    pool = ctx.pool

    async def segments(request: web.Request) -> web.Response:
        camp = request.match_info["camp_id"]
        sizes = {s: n for c, s, n in await store.segment_sizes(pool) if c == camp}
        return json_response(
            {
                "camp_id": camp,
                "segments": {s: sizes.get(s, 0) for s in ("never", "active", "slipping", "lapsed")},
            }
        )

    async def student_nudges(request: web.Request) -> web.Response:
        camp, student = request.match_info["camp_id"], request.match_info["student_id"]
        return json_response(
            {
                "camp_id": camp,
                "student_id": student,
                "nudges": await store.nudges_of(pool, camp, student),
            }
        )

    return [
        web.get("/camps/{camp_id}/segments", segments),
        web.get("/camps/{camp_id}/students/{student_id}/nudges", student_nudges),
    ]
