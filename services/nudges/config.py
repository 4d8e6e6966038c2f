"""The nudges file: quiet hours, caps, back-off, the welcome-back gift, WeCom delivery and the
message templates (several variants per kind and segment). Defaults are the contract's."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_NUDGES_FILE = Path(__file__).parent / "nudges.yaml"

PLACEHOLDERS = {"name", "streak", "days_missed", "last_work", "camp", "day", "score", "homework"}
KINDS = ("reminder", "praise", "welcome_back", "homework", "back_from_leave", "streak_saved")
SEGMENTS = ("never", "active", "slipping", "lapsed")  # of templates
ALL_SEGMENTS = (*SEGMENTS, "on_leave")  # a student's segment on a day of leave
# Templates of praise beyond excellent works are kept apart, so that the excellent ones never
# claim what a work did not earn; the nudges sent are of kind praise.
TEMPLATE_GROUPS = (*KINDS, "praise_reviewed", "praise_return")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuietHours(_Strict):
    start: str = "22:00"
    end: str = "08:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("a 24-hour time 'HH:MM'")
        return value


class Caps(_Strict):
    lapsed_every_days: int = Field(3, ge=1, le=366)
    never_every_days: int = Field(7, ge=1, le=366)


class Backoff(_Strict):
    """After `after_ignored` reminders in a row with no check-in within 24 hours, remind only
    every 2, 4, ... days (at most `max_gap_days`) until the student checks in again."""

    enabled: bool = False
    after_ignored: int = Field(3, ge=1, le=100)
    max_gap_days: int = Field(7, ge=1, le=366)


class When(_Strict):
    """When a template is true of the student, from what the service knows at send time. A
    message that says "you kept going for several days" needs such a run behind it."""

    min_run_before_gap: int | None = Field(None, ge=1, le=366)  # checked-in days before the gap
    min_days_missed: int | None = Field(None, ge=0, le=366)
    max_days_missed: int | None = Field(None, ge=0, le=366)
    min_streak: int | None = Field(None, ge=1, le=366)  # consecutive days up to yesterday
    has_last_work: bool | None = None  # the student has handed in a work

    def holds(self, facts: Facts) -> bool:
        checks = (
            self.min_run_before_gap is None or facts.run_before_gap >= self.min_run_before_gap,
            self.min_days_missed is None or facts.days_missed >= self.min_days_missed,
            self.max_days_missed is None or facts.days_missed <= self.max_days_missed,
            self.min_streak is None or facts.streak >= self.min_streak,
            self.has_last_work is None or facts.has_last_work == self.has_last_work,
        )
        return all(checks)


@dataclass(frozen=True, slots=True)
class Facts:
    run_before_gap: int
    days_missed: int
    streak: int
    has_last_work: bool


class Template(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    text: str = Field(min_length=1, max_length=2000)
    when: When | None = None  # absent: the template is true of every student of its segment

    def applies(self, facts: Facts) -> bool:
        return self.when is None or self.when.holds(facts)

    @field_validator("text")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as exc:
            raise ValueError(f"unbalanced braces: {exc}") from None
        unknown = names - PLACEHOLDERS
        if unknown:
            raise ValueError(
                f"unknown placeholder(s) {sorted(unknown)}; use {sorted(PLACEHOLDERS)}"
            )
        return value


class WeCom(_Strict):
    """Posts praise and welcome-backs to the camp's WeCom (企业微信) group robot."""

    enabled: bool = False
    kinds: list[str] = Field(default_factory=lambda: ["praise", "welcome_back"])
    robots: dict[str, str] = Field(default_factory=dict)  # camp_id -> webhook URL
    default_robot: str | None = None
    per_minute: int = Field(20, ge=1, le=1000)  # WeCom allows 20 messages a minute per robot
    retries: int = Field(4, ge=0, le=20)


class TeachersRobot(_Strict):
    """Posts to the teachers' WeCom robot: the works of a camp about to wait 24 hours for
    their first review (and those past it), at most once every `every_hours` per camp."""

    enabled: bool = False
    robots: dict[str, str] = Field(default_factory=dict)  # camp_id -> webhook URL
    default_robot: str | None = None
    warn_after_hours: float = Field(20, gt=0, lt=24)  # "about to cross": waited this long
    every_hours: float = Field(2, ge=0.25, le=24)
    max_listed: int = Field(15, ge=1, le=100)


class Praise(_Strict):
    """Which works are praised: `excellent` ones (the contract's rule), `every` reviewed work
    (templates `praise_reviewed` for those not excellent), or none (`off`); at most one praise
    per student a day. `first_after_lapse`: a student back from a lapse is praised for the
    first work they hand in after it (templates `praise_return`; posted to WeCom like any
    praise when `wecom.kinds` lists praise)."""

    works: Literal["excellent", "every", "off"] = "excellent"
    first_after_lapse: bool = False


class NudgeBook(_Strict):
    version: str | None = Field(None, max_length=100)
    quiet_hours: QuietHours = QuietHours()
    caps: Caps = Caps()
    backoff: Backoff = Backoff()
    welcome_back_gift: str = Field("welcome-back", min_length=1, max_length=128)
    wecom: WeCom = WeCom()
    teachers_robot: TeachersRobot = TeachersRobot()
    praise: Praise = Praise()
    # This share of each camp's students (chosen by id) gets no reminders or homework nudges,
    # so that what they do can be compared with what reminded students do.
    holdout: float = Field(0.0, ge=0, le=0.5)
    # kind -> segment -> variants
    templates: dict[str, dict[str, list[Template]]]

    @model_validator(mode="after")
    def _complete(self) -> NudgeBook:
        needed = {
            "reminder": ("never", "slipping", "lapsed"),
            "praise": ("active",),
            "welcome_back": ("lapsed",),
        }
        for kind, segments in self.templates.items():
            if kind not in TEMPLATE_GROUPS:
                raise ValueError(f"templates.{kind}: kinds are {', '.join(TEMPLATE_GROUPS)}")
            for segment, variants in segments.items():
                if segment not in SEGMENTS:
                    raise ValueError(
                        f"templates.{kind}.{segment}: segments are {', '.join(SEGMENTS)}"
                    )
                if not variants:
                    raise ValueError(f"templates.{kind}.{segment}: give at least one variant")
                if all(v.when is not None for v in variants):
                    raise ValueError(
                        f"templates.{kind}.{segment}: every variant has a `when`, so some"
                        " students would get no message; add one variant without `when`"
                    )
        if "homework" in self.templates:  # optional: without it, no homework nudge is sent
            needed["homework"] = SEGMENTS
        if "back_from_leave" in self.templates:  # optional, like homework
            needed["back_from_leave"] = ("active",)
        if "streak_saved" in self.templates:  # sent only where points' freezes are on
            needed["streak_saved"] = ("slipping", "lapsed")
        if self.praise.works == "every":
            needed["praise_reviewed"] = ("active",)
        if self.praise.first_after_lapse:
            needed["praise_return"] = ("lapsed",)
        for kind, required in needed.items():
            for segment in required:
                if not self.templates.get(kind, {}).get(segment):
                    raise ValueError(f"templates.{kind}.{segment} is missing: add its variants")
        return self

    def variants(self, kind: str, segment: str) -> list[Template]:
        return self.templates.get(kind, {}).get(segment, [])
