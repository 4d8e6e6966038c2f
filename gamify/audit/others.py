"""What the badges, nudges and contests services should hold, recomputed from the inputs
(gamify audit)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from gamify.audit.base import AuditBase, _rows
from services.badges import rules as badge_rules
from services.nudges import rules as nudge_rules
from shared import topics
from shared.camp_days import micros
from shared.events import (
    Answer,
    CheckIn,
    LessonProgress,
    Question,
    Review,
    Submission,
)

Pair = tuple[str, str]


class BadgesAudit(AuditBase):
    # ---- badges ----

    async def _badges(
        self, conn: asyncpg.Connection, outputs: dict[str, list[dict[str, Any]]]
    ) -> None:
        camps = {
            c.camp_id: badge_rules.CampFacts(
                c.camp_id, c.days, c.lessons, c.starts_on, c.timezone, c.assignments
            )
            for c in self._latest_camps()
        }
        days: dict[tuple[str, str], set[int]] = defaultdict(set)
        for c in self.events[topics.CHECKINS]:
            assert isinstance(c, CheckIn)
            days[(c.camp_id, c.student_id)].add(c.day)
        excellent: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in self.events[topics.REVIEWS]:
            assert isinstance(r, Review)
            if r.excellent:
                excellent[(r.camp_id, r.student_id)].add(r.submission_id)
        ratios: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for lesson in self.events[topics.LESSONS]:
            assert isinstance(lesson, LessonProgress)
            got = ratios[(lesson.camp_id, lesson.student_id)]
            ratio = badge_rules.watch_ratio(lesson.watched_seconds, lesson.duration_seconds)
            got[lesson.lesson_id] = max(got.get(lesson.lesson_id, 0.0), ratio)
        handed, asked, given = self._loop_facts()
        leave = self._leave()
        expected: set[tuple[str, str, str]] = set()
        everyone = set(days) | set(excellent) | set(ratios) | set(handed) | set(asked) | set(given)
        for pair in everyone:
            facts = badge_rules.StudentFacts(
                frozenset(days[pair]),
                frozenset(excellent[pair]),
                ratios[pair],
                handed[pair],
                len(asked[pair]),
                len(given[pair]),
                leave[pair],
            )
            for status in badge_rules.statuses(self.book.badges, facts, camps.get(pair[0])):
                if status.earned:
                    expected.add((pair[0], pair[1], status.badge_id))
        held = {
            (r["camp_id"], r["student_id"], r["badge_id"])
            for r in await _rows(
                conn,
                "SELECT camp_id, student_id, badge_id FROM badges.awards"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        }
        self.result.badges = len(held)
        for item in sorted(expected - held):
            self.differ("badges", "/".join(item), "earned but not awarded")
        for item in sorted(held - expected):
            self.differ("badges", "/".join(item), "awarded but not earned")
        published = Counter(
            (b["camp_id"], b["student_id"], b["badge_id"]) for b in outputs[topics.BADGES]
        )
        for item in sorted(held | set(published)):
            if published[item] != (1 if item in held else 0):
                self.differ("badges-out", "/".join(item), f"published {published[item]} times")

    def _loop_facts(
        self,
    ) -> tuple[dict[Pair, dict[str, datetime]], dict[Pair, set[str]], dict[Pair, set[str]]]:
        """First hand-in of each assignment, questions asked, answers to others' questions."""
        handed: dict[Pair, dict[str, datetime]] = defaultdict(dict)
        for sub in self.events[topics.SUBMISSIONS]:
            assert isinstance(sub, Submission)
            got = handed[(sub.camp_id, sub.student_id)]
            first = got.get(sub.assignment_id, sub.occurred_at)
            got[sub.assignment_id] = min(first, sub.occurred_at)
        asked: dict[Pair, set[str]] = defaultdict(set)
        for q in self.events[topics.QUESTIONS]:
            assert isinstance(q, Question)
            asked[(q.camp_id, q.student_id)].add(q.question_id)
        given: dict[Pair, set[str]] = defaultdict(set)
        for a in self.events[topics.ANSWERS]:
            assert isinstance(a, Answer)
            if a.answerer_role == "student" and a.answerer_id != a.student_id:
                given[(a.camp_id, a.answerer_id)].add(a.question_id)
        return handed, asked, given


class NudgesAudit(AuditBase):
    # ---- nudges ----

    async def _nudges(
        self, conn: asyncpg.Connection, outputs: dict[str, list[dict[str, Any]]]
    ) -> None:
        sent = Counter(
            r["kind"]
            for r in await _rows(
                conn,
                "SELECT kind FROM nudges.nudges WHERE status = 'sent'"
                " AND ($1::text IS NULL OR camp_id = $1)",
                self.camp,
            )
        )
        published = Counter(n["kind"] for n in outputs[topics.NUDGES])
        for kind in sorted(set(sent) | set(published)):
            if sent[kind] != published[kind]:
                self.differ("nudges-out", kind, f"{sent[kind]} sent, {published[kind]} published")
        zones = {c.camp_id: c.timezone for c in self._latest_camps()}
        per_day: Counter[tuple[str, str, str]] = Counter()
        for n in outputs[topics.NUDGES]:
            if n["kind"] in ("reminder", "homework"):
                due = datetime.fromisoformat(n["due_at"].replace("Z", "+00:00"))
                local = due.astimezone(ZoneInfo(zones.get(n["camp_id"], "UTC"))).date()
                per_day[(n["camp_id"], n["student_id"], local.isoformat())] += 1
        for item, count in sorted(per_day.items()):
            if count > 1:
                self.differ("nudges", "/".join(item), f"{count} reminders or homework in a day")
        lapses = Counter(
            (r["camp_id"], r["student_id"])
            for r in await _rows(
                conn,
                "SELECT camp_id, student_id FROM nudges.lapses"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        )
        welcome = Counter(
            (g["camp_id"], g["student_id"])
            for g in outputs[topics.GIFTS]
            if g["reason"].startswith("welcome back")
        )
        for pair in sorted(set(lapses) | set(welcome)):
            if lapses[pair] != welcome[pair]:
                self.differ(
                    "gifts",
                    "/".join(pair),
                    f"{lapses[pair]} lapses, {welcome[pair]} welcome-back gifts",
                )
        await self._returns(conn)

    async def _returns(self, conn: asyncpg.Connection) -> None:
        """Every return from a lapse that the check-ins show, and no other, was welcomed back
        (those whose welcome-back is not due yet aside)."""
        if not await conn.fetchval("SELECT to_regclass('nudges.lapses') IS NOT NULL"):
            return  # no nudges service here
        camps = {c.camp_id: c for c in self._latest_camps()}
        reports: dict[tuple[str, str], list[int]] = defaultdict(list)
        for e in self.events[topics.CHECKINS]:
            assert isinstance(e, CheckIn)
            if e.camp_id in camps and self.camp in (None, e.camp_id):
                reports[(e.camp_id, e.student_id)].append(micros(e.occurred_at))
        not_due_yet = {
            (r["camp_id"], r["student_id"], r["day"])
            for r in await _rows(
                conn,
                "SELECT camp_id, student_id, day FROM nudges.nudges"
                " WHERE kind = 'welcome_back' AND status = 'pending'",
            )
        }
        leave = self._leave()
        want = {
            (c, s, back.lapse)
            for (c, s), us in reports.items()
            for back in nudge_rules.returns(
                us, camps[c].starts_on, camps[c].timezone, leave[(c, s)]
            )
            if 1 <= back.day <= camps[c].days and (c, s, back.day) not in not_due_yet
        }
        have = {
            (r["camp_id"], r["student_id"], r["lapse"])
            for r in await _rows(
                conn,
                "SELECT camp_id, student_id, lapse FROM nudges.lapses"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        }
        for c, s, lapse in sorted(want - have):
            self.differ("returns", f"{c}/{s}", f"came back {lapse} but was not welcomed back")
        for c, s, lapse in sorted(have - want):
            self.differ("returns", f"{c}/{s}", f"welcomed back {lapse}, which no check-in shows")


class ContestsAudit(AuditBase):
    # ---- contests ----

    async def _contests(
        self, conn: asyncpg.Connection, outputs: dict[str, list[dict[str, Any]]]
    ) -> None:
        weeks = {
            (r["camp_id"], r["week"]): json.loads(r["ranking"])
            if isinstance(r["ranking"], str)
            else r["ranking"]
            for r in await _rows(
                conn,
                "SELECT camp_id, week, ranking FROM contests.weeks"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        }
        published: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for c in outputs[topics.CONTESTS]:
            published[(c["camp_id"], c["week"])].append(c)
        for key in sorted(set(weeks) | set(published)):
            subject = f"{key[0]}/week {key[1]}"
            got = published.get(key, [])
            if len(got) != 1:
                self.differ("contests", subject, f"published {len(got)} times")
            elif key not in weeks:
                self.differ("contests", subject, "published but not settled")
            elif got[0]["ranking"] != weeks[key]:
                self.differ(
                    "contests", subject, "the published ranking differs from the settled one"
                )
