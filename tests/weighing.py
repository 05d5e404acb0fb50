"""The SPEC's weighting, written out in Python for the tests alone: lowkey weighs in SQL
where matches are read (migration 0020's `weigh_match`, shared/db/weighing.py), and
tests/test_weighing.py holds that function to this one over every weight field.
"""

from __future__ import annotations

import math
from datetime import datetime

import msgspec

from shared.scoring import PairScore, ScoringEvent, ScoringProfile, Weights, score_pair


class Weighed(msgspec.Struct, frozen=True, kw_only=True):
    """A pair's score and components under one weight set."""

    event_id: int
    score: float
    distance: float
    interest: float
    comfort: float
    support: float | None  # None when not counted
    distance_km: float | None  # None when the distance component is the online score
    explanation: str


def distance_score(km: float, weights: Weights) -> float:
    return math.exp(-km / weights.distance_decay_km)


def comfort_score(comfort_gap: int, weights: Weights) -> float:
    return 1.0 - 0.1 * comfort_gap if comfort_gap >= 0 else 1.0 - weights.stretch_penalty


def weighted_score(
    distance: float,
    interest: float,
    comfort: float,
    weights: Weights,
    support: float | None = None,
) -> float:
    """The weighted mean; a support not counted is left out with its weight."""
    w_support = 0.0 if support is None else weights.support
    total = weights.distance + weights.interest + weights.comfort + w_support
    return (
        weights.distance * distance
        + weights.interest * interest
        + weights.comfort * comfort
        + w_support * (support or 0.0)
    ) / total


def weigh(parts: PairScore, weights: Weights) -> Weighed:
    """Hybrid: the larger distance component wins; a tie counts as in person."""
    km = parts.distance_km
    in_person = km is not None and (
        not parts.online or distance_score(km, weights) >= weights.online_score
    )
    distance = distance_score(km, weights) if in_person and km is not None else weights.online_score
    comfort = comfort_score(parts.comfort_gap, weights)
    return Weighed(
        event_id=parts.event_id,
        score=weighted_score(distance, parts.interest, comfort, weights, parts.support),
        distance=distance,
        interest=parts.interest,
        comfort=comfort,
        support=parts.support,
        distance_km=km if in_person else None,
        explanation=parts.explanation,
    )


def scored(
    profile: ScoringProfile,
    event: ScoringEvent,
    weights: Weights,
    distance_km: float | None,
    *,
    now: datetime,
) -> Weighed | None:
    """A match as a reader sees it: eligible, weighed, and at least `min_score`."""
    parts = score_pair(profile, event, distance_km, now=now)
    if parts is None:
        return None
    result = weigh(parts, weights)
    return result if result.score >= weights.min_score else None


def parts_scoring(event_id: int, score: float, explanation: str) -> PairScore:
    """Stored parts that the default weights (SPEC version 1) turn into `score` (0.3-1):
    the distance component equals the score, comfort 1 (or 0.6 under 0.5), interest the
    rest. For tests that want matches of given scores."""
    comfort_gap, comfort = (0, 1.0) if score >= 0.5 else (-1, 0.6)
    return PairScore(
        event_id=event_id,
        distance_km=-5.0 * math.log(score),
        online=False,
        interest=3 * score - score - comfort,
        comfort_gap=comfort_gap,
        explanation=explanation,
    )
