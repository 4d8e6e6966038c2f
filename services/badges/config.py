"""Badge definitions: the file's schema and its defaults (the contract's six badges).

A badge is earned when every criterion it names holds; new badges of the same kinds (a
`streak-14`, an `excellent-5`, a stricter completion) are a few lines of configuration.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_BADGES_FILE = Path(__file__).parent / "badges.yaml"


class LessonCriterion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A lesson counts as watched at this share of its duration (best report wins)...
    watched_ratio: float = Field(0.8, gt=0, le=1)
    # ...and this share of the camp's lessons must count.
    share: float = Field(1.0, gt=0, le=1)


class Criteria(BaseModel):
    """Thresholds; all that are set must hold. At least one must be set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    streak_days: int | None = Field(None, ge=1, le=366)
    checkin_days: int | None = Field(None, ge=1, le=366)
    checkin_share: float | None = Field(None, gt=0, le=1)
    excellent_works: int | None = Field(None, ge=1, le=10_000)
    lessons: LessonCriterion | None = None
    # Handed in on time at least this share of the camp's scheduled assignments (contract,
    # "The learning loop"); a camp without a schedule meets it.
    homework_rate: float | None = Field(None, gt=0, le=1)
    questions_asked: int | None = Field(None, ge=1, le=10_000)  # distinct questions asked
    answers_given: int | None = Field(None, ge=1, le=10_000)  # answers to others' questions

    @model_validator(mode="after")
    def _something(self) -> Criteria:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError(f"name at least one criterion ({', '.join(type(self).model_fields)})")
        return self


class Badge(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=1000)
    image: str = Field(min_length=1, max_length=2048)
    criteria: Criteria


class Issuer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = "https://camps.example.com/issuer"
    name: str = "Training camp"
    url: str = "https://camps.example.com"


class BadgeBook(BaseModel):
    """The whole badges file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str | None = Field(None, max_length=100)
    issuer: Issuer = Issuer()
    # The badge whose holders are listed as seed students (course-assistant candidates).
    seed_badge: str | None = "seed-student"
    badges: list[Badge] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> BadgeBook:
        ids = [b.id for b in self.badges]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"badge ids must be unique; repeated: {', '.join(dupes)}")
        if self.seed_badge is not None and self.seed_badge not in ids:
            raise ValueError(f"seed_badge {self.seed_badge!r} is not among the badges")
        return self

    def get(self, badge_id: str) -> Badge | None:
        return next((b for b in self.badges if b.id == badge_id), None)
