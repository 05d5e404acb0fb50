"""Wire shapes of the admin weights API: a weight set, a saved version, the preview and
the stats. Constraints are the SPEC's ("Matching", last paragraph)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from shared.models.common import NOT_BLANK_PATTERN, Base
from shared.scoring import Weights

# Relative weights have no natural ceiling; 1000 keeps sums finite and far beyond use.
RelativeWeight = Annotated[float, Meta(ge=0, le=1000, description="≥ 0, relative")]
DecayKm = Annotated[float, Meta(gt=0, le=1000, description="km, > 0")]
Fraction = Annotated[float, Meta(ge=0, le=1, description="in [0, 1]")]
Note = Annotated[str, Meta(min_length=1, max_length=500, pattern=NOT_BLANK_PATTERN)]
Author = Annotated[str, Meta(min_length=1, max_length=100, pattern=NOT_BLANK_PATTERN)]
# The SPEC: a preview samples at least 20 users, so no one sampled user stands out.
MIN_SAMPLE = 20
SampleSize = Annotated[int, Meta(ge=MIN_SAMPLE, le=500, description="users to sample, 20 to 500")]
Seed = Annotated[int, Meta(ge=0, le=2**31 - 1)]

RELATIVE_FIELDS = ("distance", "interest", "comfort")
WEIGHT_FIELDS = (
    "distance",
    "interest",
    "comfort",
    "support",
    "distance_decay_km",
    "online_score",
    "stretch_penalty",
    "min_score",
    "together_bonus",
)
# Weights added after version 1: a set that leaves them out keeps the active version's.
LATER_FIELDS = ("support", "together_bonus")


class WeightSet(Base):
    """The whole weight set; distance, interest and comfort must not all be 0."""

    __openapi_rules__ = (
        {"anyOf": [{"properties": {f: {"exclusiveMinimum": 0}}} for f in RELATIVE_FIELDS]},
    )

    distance: RelativeWeight
    interest: RelativeWeight
    comfort: RelativeWeight
    distance_decay_km: DecayKm
    online_score: Fraction
    stretch_penalty: Fraction
    min_score: Fraction
    support: RelativeWeight | msgspec.UnsetType = msgspec.UNSET
    together_bonus: Fraction | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.distance + self.interest + self.comfort <= 0:
            raise ValueError(
                "distance/interest/comfort: at least one of distance, interest and comfort"
                " must be above 0"
            )

    def to_weights(self, base: Weights | None = None) -> Weights:
        """The weights; those left out (`LATER_FIELDS`) are `base`'s (the active ones)."""
        fallback = base or Weights()
        return Weights(
            **{
                f: getattr(fallback, f) if getattr(self, f) is msgspec.UNSET else getattr(self, f)
                for f in WEIGHT_FIELDS
            }
        )


class WeightsUpdate(WeightSet, kw_only=True):
    """`PUT /v1/admin/weights`: a new version with a required note."""

    note: Note
    author: Author | None = None


class WeightVersion(Base):
    version: int
    distance: float
    interest: float
    comfort: float
    distance_decay_km: float
    online_score: float
    stretch_penalty: float
    min_score: float
    support: float
    together_bonus: float
    note: str
    author: str | None
    created_at: datetime
    active: bool

    def to_weights(self) -> Weights:
        return Weights(**{f: getattr(self, f) for f in WEIGHT_FIELDS})


class PreviewRequest(Base):
    weights: WeightSet
    sample_size: SampleSize = 50
    seed: Seed = 0


class PreviewMatch(Base):
    """One of a sampled user's top matches: its rank, the event, when it next starts and
    why it matched. No score, component or distance: a few of those, with the venues,
    give away where the user lives."""

    rank: int
    event_id: int
    title: str
    next_starts_at: datetime | None  # the event's next occurrence, in the event's zone
    explanation: str  # without the distance
    rank_before: int | None = None  # on "after" entries: the rank with the active weights


class PreviewUser(Base):
    """A sampled user, named only by an opaque index within this sample."""

    sample_index: int
    changed: bool
    before: list[PreviewMatch]
    after: list[PreviewMatch]


class Histogram(Base):
    """10 bins of width 0.1 over [0, 1] (the last includes 1) of every eligible pair."""

    edges: list[float]
    before: list[int]
    after: list[int]


class PreviewResult(Base):
    active_version: int
    sample_size: int
    seed: int
    events_considered: int
    pairs: int  # eligible (user, event) pairs in the sample: each histogram sums to this
    matches_before: int
    matches_after: int
    appeared: int
    disappeared: int
    users_changed: int
    histogram: Histogram
    users: list[PreviewUser]


class RescoreRun(Base):
    version: int
    reason: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    chunks_done: int
    chunks_total: int


class MatchesPerUserBin(Base):
    label: str  # "0", "1-2", "3-5", …, "51+"
    users: int


class Stats(Base):
    profiles: int
    events: int
    live_events: int
    matches: int
    outbox_depth: int
    queue_depth: int | None  # None when Redis does not answer
    last_full_rescore: RescoreRun | None
    events_by_intensity: dict[str, int]  # "1".."5" → live events
    matches_per_user: list[MatchesPerUserBin]
    # Outbox jobs tried too often and parked (never run again): data a job cannot score.
    parked_jobs: int = 0
    # The first step (SPEC "Helping people take the first step"), counts only.
    buddy_pairs: int = 0
    checkins_by_answer: dict[str, int] = msgspec.field(default_factory=dict)
    comfort_changes: dict[str, int] = msgspec.field(default_factory=dict)  # by kind
