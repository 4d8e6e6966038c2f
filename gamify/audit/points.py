"""What the points service should hold, recomputed from the inputs (gamify audit)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from gamify.audit.base import AuditBase, Key, _rows
from services.points import rules as point_rules
from shared import topics
from shared.camp_days import camp_day
from shared.events import (
    CheckIn,
    Gift,
    RedemptionRequest,
    Review,
    Share,
    Submission,
)
from shared.streaks import freezes

Key2 = tuple[str, str]


class PointsAudit(AuditBase):
    # ---- points ----

    def _camps(self) -> dict[str, point_rules.CampInfo]:
        return {
            c.camp_id: point_rules.CampInfo(c.camp_id, c.starts_on, c.days, c.timezone)
            for c in self._latest_camps()
        }

    def _counted_days(self) -> dict[tuple[str, str], dict[int, CheckIn]]:
        camps = self._camps()
        days: dict[tuple[str, str], dict[int, CheckIn]] = defaultdict(dict)
        for c in self.events[topics.CHECKINS]:
            assert isinstance(c, CheckIn)
            camp = camps.get(c.camp_id)
            if camp is None:
                continue
            if point_rules.judge_checkin(c, camp) is None:
                days[(c.camp_id, c.student_id)].setdefault(c.day, c)
        return days

    def _freezes_bought(
        self, outputs: dict[str, list[dict[str, Any]]]
    ) -> dict[Key2, list[datetime]]:
        """When each student bought a streak freeze (an accepted redemption of the item)."""
        bought: dict[Key2, list[datetime]] = defaultdict(list)
        for r in outputs[topics.REDEMPTION_RESULTS]:
            item = self.rules.for_camp(r["camp_id"]).streak.freeze.item_id
            if r["status"] == "accepted" and r["item_id"] == item:
                at = datetime.fromisoformat(r["occurred_at"].replace("Z", "+00:00"))
                bought[(r["camp_id"], r["student_id"])].append(at)
        return bought

    def _expected_points(
        self, outputs: dict[str, list[dict[str, Any]]]
    ) -> tuple[dict[Key, set[int]], dict[Key, set[int]]]:
        """(required, optional) entries: key -> the amounts it may have."""
        required: dict[Key, set[int]] = defaultdict(set)
        optional: dict[Key, set[int]] = defaultdict(set)

        def need(awards: Iterable[point_rules.Award], into: dict[Key, set[int]] = required) -> None:
            for a in awards:
                into[(a.camp_id, a.student_id, a.rule_id, a.cause)].add(a.delta)

        rules_for = self.rules.for_camp
        leave = self._leave()
        bought = self._freezes_bought(outputs)
        defined = {c.camp_id: c for c in self._latest_camps()}
        for (camp_id, _student), days in self._counted_days().items():
            rules = rules_for(camp_id)
            for checkin in days.values():
                need(point_rules.checkin_awards(checkin, rules))
            any_checkin = next(iter(days.values()))
            on_leave = leave[(camp_id, _student)]
            f = rules.streak.freeze
            if f.enabled and camp_id in defined:
                c = defined[camp_id]
                on = [camp_day(c.starts_on, c.timezone, at) for at in bought[(camp_id, _student)]]
                used = freezes(days, on_leave, on, f.earn_every_days, f.max_held, max(days))
                on_leave = on_leave | used.frozen
            need(
                point_rules.streak_awards(
                    camp_id, _student, days, rules, any_checkin, leave=on_leave
                )
            )
        for s in self.events[topics.SUBMISSIONS]:
            assert isinstance(s, Submission)
            need(point_rules.submission_awards(s, rules_for(s.camp_id)))
        for r in self.events[topics.REVIEWS]:
            assert isinstance(r, Review)
            need(point_rules.review_awards(r, rules_for(r.camp_id)))
        camps = self._camps()
        for sh in self.events[topics.SHARES]:
            assert isinstance(sh, Share)
            if sh.camp_id in camps:
                awards, _ = point_rules.share_awards(
                    [(sh, camps[sh.camp_id])], set(), {}, rules_for
                )
                need(awards, optional)  # the daily cap may refuse it
        from shared.events import ContestResult

        for value in outputs[topics.CONTESTS]:
            result = ContestResult.model_validate_json(json.dumps(value))
            need(point_rules.contest_awards(result, rules_for(result.camp_id)))
        for value in outputs[topics.GIFTS]:
            gift = Gift.model_validate_json(json.dumps(value))
            need(point_rules.gift_awards(gift, rules_for(gift.camp_id)))
        # redemptions: as answered, once per request
        requests = {
            (r.camp_id, r.request_id): r
            for r in self.events[topics.REDEMPTIONS]
            if isinstance(r, RedemptionRequest)
        }
        answers: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for a in outputs[topics.REDEMPTION_RESULTS]:
            answers[(a["camp_id"], a["request_id"])].append(a)
        for key, request in sorted(requests.items()):
            given = answers.get(key, [])
            if len(given) != 1:
                self.differ("redemption", f"{key[0]}/{key[1]}", f"answered {len(given)} times")
                continue
            if given[0]["status"] == "accepted":
                required[(key[0], request.student_id, "redemption", f"request:{key[1]}")].add(
                    -request.cost
                )
        for key in sorted(set(answers) - set(requests)):
            self.differ("redemption", f"{key[0]}/{key[1]}", "answered, but never requested")
        return required, optional

    async def _points(
        self, conn: asyncpg.Connection, outputs: dict[str, list[dict[str, Any]]]
    ) -> None:
        required, optional = self._expected_points(outputs)
        rows = await _rows(
            conn,
            "SELECT camp_id, student_id, rule_id, cause, delta, camp_day FROM points.ledger"
            " WHERE $1::text IS NULL OR camp_id = $1",
            self.camp,
        )
        self.result.ledger_rows = len(rows)
        ledger = {(r["camp_id"], r["student_id"], r["rule_id"], r["cause"]): r for r in rows}
        for key, amounts in sorted(required.items()):
            row = ledger.get(key)
            if row is None:
                self.differ("points", "/".join(key), f"missing (expected {sorted(amounts)})")
            elif row["delta"] not in amounts:
                self.differ(
                    "points", "/".join(key), f"paid {row['delta']}, expected {sorted(amounts)}"
                )
        for key, row in sorted(ledger.items()):
            if key in required:
                continue
            if key in optional and row["delta"] in optional[key]:
                continue
            self.differ("points", "/".join(key), f"paid {row['delta']} without a cause")
        share_days: Counter[tuple[str, str, int]] = Counter()
        for key, row in ledger.items():
            if key[2] == "share" and row["camp_day"] is not None:
                share_days[(key[0], key[1], row["camp_day"])] += row["delta"]
        for (camp_id, student, day), total in sorted(share_days.items()):
            cap = self.rules.for_camp(camp_id).share.daily_cap
            if cap is not None and total > cap:
                self.differ(
                    "points", f"{camp_id}/{student}/share/day:{day}", f"{total} > cap {cap}"
                )
        sums: Counter[tuple[str, str]] = Counter()
        for key, row in ledger.items():
            sums[(key[0], key[1])] += row["delta"]
        balances = {
            (r["camp_id"], r["student_id"]): r["balance"]
            for r in await _rows(
                conn,
                "SELECT camp_id, student_id, balance FROM points.balances"
                " WHERE $1::text IS NULL OR camp_id = $1",
                self.camp,
            )
        }
        for pair in sorted(set(sums) | set(balances)):
            if sums[pair] < 0:
                self.differ("balance", "/".join(pair), f"the ledger sums to {sums[pair]} < 0")
            if balances.get(pair, 0) != sums[pair]:
                self.differ(
                    "balance",
                    "/".join(pair),
                    f"balance {balances.get(pair)} != ledger {sums[pair]}",
                )
        published = Counter(
            (p["camp_id"], p["student_id"], p["rule_id"], p["delta"])
            for p in outputs[topics.POINTS]
        )
        recorded = Counter((k[0], k[1], k[2], r["delta"]) for k, r in ledger.items())
        for item in sorted(set(published) | set(recorded)):
            if published[item] != recorded[item]:
                self.differ(
                    "points-out",
                    "/".join(map(str, item)),
                    f"{published[item]} published, {recorded[item]} in the ledger",
                )
