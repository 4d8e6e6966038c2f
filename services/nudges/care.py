"""Care lists for teachers (the brief's layered care): the students of a camp who need a person
most, with what a teacher reads before writing to them. Judged as of the service's clock, from
the check-ins, leaves, works and nudges the service keeps."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from typing import Any

import asyncpg

from services.nudges import rules, store
from shared.camp_days import camp_day
from shared.leave import NO_LEAVE
from shared.leave_store import camp_leaves

NEEDS_CARE = ("lapsed", "slipping", "never", "on_leave")  # the default list, in this order
LAST_NUDGES = 3
CSV_COLUMNS = (
    "student_id",
    "display_name",
    "segment",
    "days_missed",
    "last_checkin_day",
    "last_checkin_at",
    "on_leave",
    "leave_days",
    "last_work_title",
    "last_work_submitted_at",
    "last_work_reviewed_at",
    "last_nudges",
)


async def care_list(
    conn: asyncpg.Pool | asyncpg.Connection,
    camp: store.CampRow,
    now: datetime,
    segment: str | None,
    leave_cap: int | None,
) -> tuple[int, list[dict[str, Any]]]:
    """(today's camp day, the students of `segment`, or of every segment needing care, who
    needs a person most first: most days missed, then the longest since a check-in)."""
    today = max(1, min(camp_day(camp.starts_on, camp.timezone, now), camp.days + 1))
    c = camp.camp_id
    names = {
        r["student_id"]: r["display_name"]
        for r in await conn.fetch(
            "SELECT student_id, display_name FROM enrollments WHERE camp_id = $1", c
        )
    }
    checkins: dict[str, dict[int, datetime]] = defaultdict(dict)
    for r in await conn.fetch(
        "SELECT student_id, day, occurred_at FROM checkins WHERE camp_id = $1", c
    ):
        checkins[r["student_id"]][r["day"]] = r["occurred_at"]
    leaves = await camp_leaves(conn, c, leave_cap)
    works = {
        r["student_id"]: r
        for r in await conn.fetch(
            "SELECT DISTINCT ON (student_id) student_id, title, occurred_at, first_review_at"
            " FROM works WHERE camp_id = $1 ORDER BY student_id, occurred_at DESC",
            c,
        )
    }
    nudged: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT student_id, kind, template_id, decided_at, EXISTS (SELECT 1 FROM checkins k"
        "   WHERE k.camp_id = n.camp_id AND k.student_id = n.student_id"
        "   AND k.occurred_at > n.decided_at AND k.occurred_at <= n.decided_at + interval"
        "   '24 hours') AS came_back FROM (SELECT *, row_number() OVER (PARTITION BY"
        "   student_id ORDER BY decided_at DESC, id DESC) AS k FROM nudges"
        "   WHERE camp_id = $1 AND status = 'sent') n WHERE n.k <= $2 ORDER BY decided_at DESC",
        c,
        LAST_NUDGES,
    ):
        nudged[r["student_id"]].append(
            {
                "kind": r["kind"],
                "template_id": r["template_id"],
                "sent_at": r["decided_at"],
                "came_back_within_24h": r["came_back"],
            }
        )
    wanted = (segment,) if segment else NEEDS_CARE
    rows = []
    for student, name in names.items():
        days = checkins.get(student, {})
        leave = leaves.get(student, NO_LEAVE)
        seg = rules.segment_on(days.keys(), today, leave)
        if seg not in wanted:
            continue
        last_day = max(days, default=None)
        work = works.get(student)
        rows.append(
            {
                "student_id": student,
                "display_name": name,
                "segment": seg,
                "days_missed": rules.days_missed(days.keys(), today, leave),
                "last_checkin_day": last_day,
                "last_checkin_at": days[last_day] if last_day else None,
                "on_leave": today in leave,
                "leave_days": sorted(leave),
                "last_work": None
                if work is None
                else {
                    "title": work["title"],
                    "submitted_at": work["occurred_at"],
                    "reviewed_at": work["first_review_at"],
                },
                "last_nudges": nudged.get(student, []),
            }
        )
    rows.sort(key=lambda r: (-r["days_missed"], r["last_checkin_day"] or 0, r["student_id"]))
    return today, rows


def as_csv(rows: list[dict[str, Any]]) -> str:
    """The care list as CSV (UTF-8 with a BOM, so that Excel opens the Chinese names)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        work = r["last_work"] or {}
        nudges = "; ".join(
            f"{n['kind']}/{n['template_id']} {n['sent_at']:%m-%d %H:%M}"
            + (" (came back)" if n["came_back_within_24h"] else "")
            for n in r["last_nudges"]
        )
        writer.writerow(
            [
                r["student_id"],
                r["display_name"],
                r["segment"],
                r["days_missed"],
                r["last_checkin_day"] or "",
                r["last_checkin_at"].isoformat() if r["last_checkin_at"] else "",
                "yes" if r["on_leave"] else "",
                " ".join(map(str, r["leave_days"])),
                work.get("title", ""),
                work["submitted_at"].isoformat() if work else "",
                work["reviewed_at"].isoformat() if work.get("reviewed_at") else "",
                nudges,
            ]
        )
    return "\ufeff" + out.getvalue()
