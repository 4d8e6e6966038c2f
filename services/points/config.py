"""The points rules file: its schema, with the contract's defaults, and per-camp overrides.

Top-level sections are the rules for every camp; `camps: {camp_id: {...}}` overrides any part
of them for one camp (merged key by key onto the top-level sections).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_RULES_FILE = Path(__file__).parent / "rules.yaml"

Amount = int


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


class CheckinRule(_Section):
    points: Amount = Field(10, ge=0, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _window_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "makeup_window_days" in data:
            raise ValueError(
                "makeup_window_days is one setting for every service now: remove it here and"
                " set GAMIFY_MAKEUP_WINDOW_DAYS instead"
            )
        return data


class StreakFreeze(BaseModel):
    """Streak freezes: used on a missed day so that the run holds (off unless enabled)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    earn_every_days: int = Field(7, ge=0, le=366)  # one per this many days of a run; 0: never
    max_held: int = Field(2, ge=1, le=100)
    item_id: str | None = Field("streak-freeze", min_length=1, max_length=128)  # bought so


class StreakRule(_Section):
    points: Amount = Field(50, ge=0, le=1_000_000)
    milestones: list[int] = Field(default_factory=lambda: [7, 14, 21], max_length=50)
    freeze: StreakFreeze = StreakFreeze()

    @field_validator("milestones")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(m < 1 or m > 366 for m in value):
            raise ValueError("each milestone is a number of days from 1 to 366")
        if value != sorted(set(value)):
            raise ValueError("milestones must be listed in increasing order, each once")
        return value


class SubmissionRule(_Section):
    basic: Amount = Field(10, ge=0, le=1_000_000)
    practice: Amount = Field(30, ge=0, le=1_000_000)
    challenge: Amount = Field(50, ge=0, le=1_000_000)


class ExcellentReviewRule(_Section):
    points: Amount = Field(20, ge=0, le=1_000_000)


class ShareRule(_Section):
    points: Amount = Field(2, ge=0, le=1_000_000)
    # At most this many share points per student and camp day (camp timezone); none = no cap.
    daily_cap: int | None = Field(None, ge=0, le=1_000_000)


class ContestRule(_Section):
    prizes: dict[int, Amount] = Field(default_factory=lambda: {1: 100, 2: 60, 3: 30})

    @field_validator("prizes")
    @classmethod
    def _ranks(cls, value: dict[int, int]) -> dict[int, int]:
        if any(rank < 1 for rank in value) or any(p < 0 for p in value.values()):
            raise ValueError("prizes map ranks (1, 2, ...) to points >= 0")
        return value


class GiftRule(_Section):
    # gift_id on gamify.gifts -> points paid for it.
    gifts: dict[str, Amount] = Field(default_factory=lambda: {"welcome-back": 20})


class RedemptionRule(_Section):
    pass


class RuleSet(BaseModel):
    """The rules of one camp."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkin: CheckinRule = CheckinRule()
    streak: StreakRule = StreakRule()
    submission: SubmissionRule = SubmissionRule()
    excellent_review: ExcellentReviewRule = ExcellentReviewRule()
    share: ShareRule = ShareRule()
    contest: ContestRule = ContestRule()
    gift: GiftRule = GiftRule()
    redemption: RedemptionRule = RedemptionRule()


SECTIONS = tuple(RuleSet.model_fields)


class PointsRules(RuleSet):
    """The whole file: the rules for every camp, and overrides per camp."""

    version: str | None = Field(None, max_length=100)
    camps: dict[str, RuleSet] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _merge_camp_overrides(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("camps"), dict):
            return data
        base = {k: v for k, v in data.items() if k in SECTIONS}
        merged = {}
        for camp_id, override in data["camps"].items():
            merged[camp_id] = (
                _deep_merge(base, override) if isinstance(override, dict) else override
            )
        return {**data, "camps": merged}

    def for_camp(self, camp_id: str) -> RuleSet:
        """The rules in force for `camp_id`: its override if it has one, else the defaults."""
        return self.camps.get(camp_id, self)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in override.items():
        if (
            isinstance(value, dict)
            and isinstance(result.get(key), dict)
            and key not in ("prizes", "gifts")
        ):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result
