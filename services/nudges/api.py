"""The nudges read side over HTTP (JSON): segment sizes of a camp, a student's nudges."""

from __future__ import annotations

from collections.abc import Sequence

from services.nudges import queue, store
from services.nudges.config import SEGMENTS
from shared.api import Args, Route
from shared.service import ServiceContext


def routes(ctx: ServiceContext) -> Sequence[Route]:
    pool = ctx.pool

    async def segments(a: Args) -> object:
        camp = a["camp_id"]
        sizes = {s: n for c, s, n in await store.segment_sizes(pool) if c == camp}
        return {"camp_id": camp, "segments": {s: sizes.get(s, 0) for s in SEGMENTS}}

    async def student_nudges(a: Args) -> object:
        camp, student = a["camp_id"], a["student_id"]
        return {
            "camp_id": camp,
            "student_id": student,
            "nudges": await queue.nudges_of(pool, camp, student),
        }

    return [
        Route("/camps/{camp_id}/segments", segments, "How many students are in each segment."),
        Route(
            "/camps/{camp_id}/students/{student_id}/nudges",
            student_nudges,
            "The nudges of a student, sent, pending and skipped.",
        ),
    ]
