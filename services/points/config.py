"""The points rules file: its schema, with the contract's defaults, and where it lives."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_RULES_FILE = Path(__file__).parent / "rules.yaml"


class CheckinRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    points: int = Field(10, ge=0, le=1_000_000)


class PointsRules(BaseModel):
    """Every amount the points service pays. Defaults are the contract's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str | None = None
    checkin: CheckinRule = CheckinRule()
