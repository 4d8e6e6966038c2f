"""The nudges read side over HTTP (JSON): segment sizes of a camp, a student's nudges, and the
learning loop for teachers: the works and questions waiting, and homework rates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from services.nudges import care, loop_store, queue, store
from services.nudges.config import ALL_SEGMENTS
from shared.api import Args, Param, Route
from shared.camp_days import camp_day
from shared.homework import (
    ANSWER_TOO_LONG_S,
    REVIEW_TOO_LONG_S,
    Homework,
    Rate,
    earliest,
    homework,
    wait_seconds,
)
from shared.service import ServiceContext

LIMIT = Param("limit", "query", "at most this many entries", (1, 10_000), 100)
CATEGORY = Param(
    "category",
    "query",
    "only questions of this category",
    choices=("content", "howto", "extension"),
    optional=True,
)


def _rate(r: Rate) -> dict[str, Any]:
    return {"on_time": r.on_time, "due": r.due, "rate": r.value}


def _homework(hw: Homework) -> dict[str, Any]:
    return {
        "rate": _rate(hw.overall),
        "by_tier": {t: _rate(r) for t, r in hw.by_tier.items()},
        "assignments": hw.statuses,
    }


def _waiting(rows: list[dict[str, Any]], since: str, now: datetime, limit_s: float) -> list[Any]:
    for r in rows:
        r["waited_seconds"] = round(wait_seconds(r[since], now))
        r["overdue"] = r["waited_seconds"] > limit_s
    return rows


SEGMENT = Param(
    "segment",
    "query",
    "only students of this segment (default: every segment that needs care)",
    choices=ALL_SEGMENTS,
    optional=True,
)


def routes(ctx: ServiceContext) -> Sequence[Route]:
    pool = ctx.pool

    async def care_list(a: Args) -> tuple[str, int, list[dict[str, Any]]]:
        camp = (await store.load_camps(pool, {a["camp_id"]}))[a["camp_id"]]
        now = ctx.clock.now()
        today, rows = await care.care_list(
            pool, camp, now, a["segment"], ctx.settings.leave_max_days
        )
        return camp.camp_id, today, rows[: a["limit"]]

    async def care_json(a: Args) -> object:
        camp, today, rows = await care_list(a)
        return {"camp_id": camp, "day": today, "students": rows}

    async def care_csv(a: Args) -> object:
        camp, _, rows = await care_list(a)
        return web.Response(
            text=care.as_csv(rows),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="care-{camp}.csv"'},
        )

    async def segments(a: Args) -> object:
        camp = a["camp_id"]
        sizes = {s: n for c, s, n in await store.segment_sizes(pool) if c == camp}
        return {"camp_id": camp, "segments": {s: sizes.get(s, 0) for s in ALL_SEGMENTS}}

    async def student_nudges(a: Args) -> object:
        camp, student = a["camp_id"], a["student_id"]
        return {
            "camp_id": camp,
            "student_id": student,
            "nudges": await queue.nudges_of(pool, camp, student),
        }

    async def waiting_reviews(a: Args) -> object:
        rows = await loop_store.waiting_works(pool, a["camp_id"], a["limit"])
        now = ctx.clock.now()
        return {
            "camp_id": a["camp_id"],
            "now": now,
            "works": _waiting(rows, "submitted_at", now, REVIEW_TOO_LONG_S),
        }

    async def waiting_questions(a: Args) -> object:
        rows = await loop_store.waiting_questions(pool, a["camp_id"], a["category"], a["limit"])
        now = ctx.clock.now()
        return {
            "camp_id": a["camp_id"],
            "now": now,
            "questions": _waiting(rows, "asked_at", now, ANSWER_TOO_LONG_S),
        }

    async def camp_homework(a: Args) -> object:
        camp = (await store.load_camps(pool, {a["camp_id"]}))[a["camp_id"]]
        today = camp_day(camp.starts_on, camp.timezone, ctx.clock.now())
        works = await loop_store.camp_handed_in(pool, camp.camp_id)
        rows = []
        for s in await store.enrolled(pool, camp.camp_id):
            hw = homework(
                camp.starts_on, camp.timezone, camp.assignments, earliest(works.get(s, [])), today
            )
            behind = [i for i, st in hw.statuses.items() if st in ("late", "missing")]
            rows.append({"student_id": s, **_homework(hw), "behind": behind})
        # who is behind first: the lowest rate, then the most assignments behind
        rows.sort(key=lambda r: (r["rate"]["rate"] or 0.0, -len(r["behind"]), r["student_id"]))
        return {
            "camp_id": camp.camp_id,
            "day": today,
            "scheduled": len(camp.assignments),
            "students": rows[: a["limit"]],
        }

    async def student_homework(a: Args) -> object:
        camp = (await store.load_camps(pool, {a["camp_id"]}))[a["camp_id"]]
        today = camp_day(camp.starts_on, camp.timezone, ctx.clock.now())
        pair = (camp.camp_id, a["student_id"])
        works = (await loop_store.handed_in(pool, [pair])).get(pair, [])
        hw = homework(camp.starts_on, camp.timezone, camp.assignments, earliest(works), today)
        return {"camp_id": camp.camp_id, "student_id": pair[1], "day": today, **_homework(hw)}

    return [
        Route("/camps/{camp_id}/segments", segments, "How many students are in each segment."),
        Route(
            "/camps/{camp_id}/care",
            care_json,
            "Students who need a person, most in need first, with what a teacher needs to know.",
            (SEGMENT, LIMIT),
        ),
        Route(
            "/camps/{camp_id}/care.csv",
            care_csv,
            "The care list as CSV (for a spreadsheet).",
            (SEGMENT, LIMIT),
            content_type="text/csv",
        ),
        Route(
            "/camps/{camp_id}/students/{student_id}/nudges",
            student_nudges,
            "The nudges of a student, sent, pending and skipped.",
        ),
        Route(
            "/camps/{camp_id}/reviews/waiting",
            waiting_reviews,
            "Works waiting for their first review, oldest first, with how long they waited.",
            (LIMIT,),
        ),
        Route(
            "/camps/{camp_id}/questions/waiting",
            waiting_questions,
            "Questions waiting for an answer by a teacher or assistant, oldest first.",
            (CATEGORY, LIMIT),
        ),
        Route(
            "/camps/{camp_id}/homework",
            camp_homework,
            "Each enrolled student's homework rate, who is behind first.",
            (LIMIT,),
        ),
        Route(
            "/camps/{camp_id}/students/{student_id}/homework",
            student_homework,
            "A student's homework rate (overall and per tier) and each assignment's status.",
        ),
    ]
