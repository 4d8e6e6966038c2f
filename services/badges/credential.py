"""A badge as an Open Badges 3.0 credential (JSON-LD), so a student can carry it elsewhere.

The credential is unsigned: a deployment that needs verifiable proofs signs it at the edge
(e.g. with its issuer key) before handing it out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.badges.config import Badge, Issuer
from shared.outbox import derived_event_id

CONTEXT = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
]


def open_badge(
    badge: Badge, issuer: Issuer, camp_id: str, student_id: str, awarded_at: datetime
) -> dict[str, Any]:
    """The OpenBadgeCredential of `badge` earned by `student_id` in `camp_id`."""
    return {
        "@context": CONTEXT,
        "id": f"urn:uuid:{derived_event_id('credential', camp_id, student_id, badge.id)}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer.id, "type": ["Profile"], "name": issuer.name, "url": issuer.url},
        "validFrom": awarded_at.isoformat(),
        "name": badge.name,
        "credentialSubject": {
            "id": f"urn:gamify:student:{student_id}",
            "type": ["AchievementSubject"],
            "achievement": {
                "id": f"{issuer.url.rstrip('/')}/achievements/{badge.id}",
                "type": ["Achievement"],
                "achievementType": "Badge",
                "name": badge.name,
                "description": badge.description,
                "criteria": {"narrative": _narrative(badge)},
                "image": {"id": badge.image, "type": "Image"},
                "tag": [camp_id],
            },
        },
    }


def _narrative(badge: Badge) -> str:
    c = badge.criteria
    parts = []
    if c.streak_days:
        parts.append(f"checked in on {c.streak_days} consecutive camp days")
    if c.checkin_days:
        parts.append(f"checked in on at least {c.checkin_days} camp days")
    if c.checkin_share:
        parts.append(f"checked in on at least {c.checkin_share:.0%} of the camp's days")
    if c.excellent_works:
        parts.append(f"had {c.excellent_works} submission(s) reviewed as excellent")
    if c.lessons:
        parts.append(
            f"watched {c.lessons.share:.0%} of the lessons to at least "
            f"{c.lessons.watched_ratio:.0%} of their length"
        )
    return "The student " + ", and ".join(parts) + "."
