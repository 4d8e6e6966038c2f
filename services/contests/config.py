"""The contests file: the vote cap, the prize gifts by rank, what counts as a suspicious ring,
with overrides per camp. Defaults are the contract's (5 votes per voter per week)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_CONTESTS_FILE = Path(__file__).parent / "contests.yaml"

GiftId = str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CampRules(_Strict):
    """What can be set per camp (unset: the file's top-level value)."""

    vote_cap_per_week: int | None = Field(None, ge=1, le=10_000)
    prize_gifts: dict[int, GiftId] | None = None
    min_votes_for_prize: int | None = Field(None, ge=0, le=10_000)


class Suspicion(_Strict):
    """A ring: students who vote only inside their group, all for each other's works."""

    min_ring_size: int = Field(2, ge=2, le=100)
    max_ring_size: int = Field(8, ge=2, le=1000)
    min_votes_per_member: int = Field(1, ge=1, le=10_000)


class ContestBook(_Strict):
    version: str | None = Field(None, max_length=100)
    vote_cap_per_week: int = Field(5, ge=1, le=10_000)
    # rank -> gift id, published on gamify.gifts for the student at that rank
    prize_gifts: dict[int, GiftId] = Field(default_factory=lambda: {1: "coupon"})
    # Prizes (points and gifts) go only to entries with at least this many counted votes.
    min_votes_for_prize: int = Field(1, ge=0, le=10_000)
    suspicion: Suspicion = Suspicion()
    camps: dict[str, CampRules] = Field(default_factory=dict)

    def cap(self, camp_id: str) -> int:
        own = self.camps.get(camp_id)
        return own.vote_cap_per_week if own and own.vote_cap_per_week else self.vote_cap_per_week

    def min_votes(self, camp_id: str) -> int:
        own = self.camps.get(camp_id)
        if own and own.min_votes_for_prize is not None:
            return own.min_votes_for_prize
        return self.min_votes_for_prize

    def gifts(self, camp_id: str) -> dict[int, GiftId]:
        own = self.camps.get(camp_id)
        return own.prize_gifts if own and own.prize_gifts is not None else self.prize_gifts
