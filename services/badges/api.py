"""The badges read side over HTTP (JSON): progress, holders per badge, seed students, and
Open Badges 3.0 credentials."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from services.badges import rules, store
from services.badges.config import BadgeBook
from services.badges.credential import open_badge
from shared.api import Args, Route
from shared.config import Loaded
from shared.http import json_response
from shared.service import ServiceContext


def routes(ctx: ServiceContext, book: Callable[[], Loaded[BadgeBook]]) -> Sequence[Route]:
    pool = ctx.pool

    async def student_badges(a: Args) -> object:
        camp, student = a["camp_id"], a["student_id"]
        badges = book().model.badges
        pair = (camp, student)
        # the badges held come with their award times from awards_of
        known = await store.load_students(
            pool, [pair], ctx.settings.leave_max_days, with_held=False
        )
        facts, camp_facts = known.facts[pair], known.camps.get(camp)
        held = await store.awards_of(pool, camp, student)
        statuses = {s.badge_id: s for s in rules.statuses(badges, facts, camp_facts)}
        return {
            "camp_id": camp,
            "student_id": student,
            "camp_known": camp_facts is not None,
            "badges": [
                {
                    "id": b.id,
                    "name": b.name,
                    "description": b.description,
                    "image": b.image,
                    "earned": b.id in held,
                    "awarded_at": held[b.id]["awarded_at"] if b.id in held else None,
                    "progress": [
                        {
                            "criterion": p.criterion,
                            "current": p.current,
                            "target": p.target,
                            "met": p.met,
                        }
                        for p in statuses[b.id].progress
                    ],
                }
                for b in badges
            ],
        }

    async def camp_badges(a: Args) -> object:
        camp = a["camp_id"]
        counts = await store.holders_per_badge(pool, camp)
        return {
            "camp_id": camp,
            "holders": {b.id: counts.get(b.id, 0) for b in book().model.badges},
        }

    async def seeds(a: Args) -> object:
        camp = a["camp_id"]
        seed_badge = book().model.seed_badge
        rows = await store.seed_students(pool, camp, seed_badge) if seed_badge else []
        for r in rows:
            r["excellent_works"] = json.loads(r["excellent_works"])
        return {"camp_id": camp, "badge_id": seed_badge, "seed_students": rows}

    async def credential(a: Args) -> object:
        camp, student, badge_id = a["camp_id"], a["student_id"], a["badge_id"]
        loaded = book().model
        badge = loaded.get(badge_id)
        held = await store.awards_of(pool, camp, student)
        if badge is None or badge_id not in held:
            return json_response(
                {"error": f"{student} holds no badge {badge_id!r} in {camp}"}, status=404
            )
        body = open_badge(badge, loaded.issuer, camp, student, held[badge_id]["awarded_at"])
        return json_response(body, content_type="application/ld+json")

    return [
        Route(
            "/camps/{camp_id}/students/{student_id}/badges",
            student_badges,
            "A student's badges: earned, and progress towards each.",
        ),
        Route(
            "/camps/{camp_id}/students/{student_id}/badges/{badge_id}/credential",
            credential,
            "An earned badge as an Open Badges 3.0 credential.",
            content_type="application/ld+json",
            not_found="the student holds no such badge",
        ),
        Route("/camps/{camp_id}/badges", camp_badges, "How many students hold each badge."),
        Route(
            "/camps/{camp_id}/seed-students",
            seeds,
            "Students who hold the seed badge, with their evidence.",
        ),
    ]
