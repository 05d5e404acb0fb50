"""Pure matching, exactly per the SPEC's "Matching": the Structs scoring reads, eligibility
and the parts of an eligible pair (what the weights are applied to where matches are read,
in shared/db/weighing.py). The rules themselves are shared.match_rules'; when an event
occurs is shared.occurrences', the words shared.explanations'. No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import msgspec

from shared import match_rules as rules
from shared.explanations import explanation
from shared.occurrences import WeeklyWindow, availability_starts, available_at, is_over


class Weights(msgspec.Struct, frozen=True, kw_only=True):
    """An admin weight set; the defaults are the SPEC's version 1."""

    distance: float = 1.0
    interest: float = 1.0
    comfort: float = 1.0
    distance_decay_km: float = 5.0
    online_score: float = 0.6
    stretch_penalty: float = 0.4
    min_score: float = 0.3
    support: float = 1.0
    together_bonus: float = 0.1


class ScoringEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    format: str  # in_person | online | hybrid
    lat: float | None
    lon: float | None
    tags: tuple[str, ...]
    intensity: int
    group_size: int
    structure: str  # structured | semi | open
    noise: str  # quiet | moderate | loud
    talking_optional: bool
    newcomer_support: bool
    starts_at: datetime  # local wall-clock, naive, in `timezone` (first occurrence)
    ends_at: datetime
    timezone: str
    recurrence: str | None = None  # RRULE value
    over_at: datetime | None = None  # aware; None = never over
    status: str = "scheduled"
    cost_cents: int = 0
    currency: str = "EUR"
    languages: tuple[str, ...] = ()
    accessibility: tuple[str, ...] = ()
    support: tuple[str, ...] = ()  # the kinds of support it gives (SPEC "Support")


class ScoringProfile(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    home_lat: float
    home_lon: float
    radius_km: float
    interests: dict[str, float]
    comfort_level: int
    open_to_stretch: bool = False
    formats: tuple[str, ...] = ("in_person", "online")
    max_cost_cents: int | None = None
    currency: str | None = None
    languages: tuple[str, ...] = ()
    accessibility_needs: tuple[str, ...] = ()
    availability: tuple[WeeklyWindow, ...] = ()
    timezone: str = "UTC"
    max_events_per_week: int = 3
    seeking: tuple[str, ...] = ()  # the kinds of support the user would like
    hidden_event_ids: frozenset[int] = frozenset()


class PairScore(msgspec.Struct, frozen=True, kw_only=True):
    """An eligible pair's parts: what the weights are applied to where matches are read
    (shared/db/weighing.py). Eligibility never depends on the weights."""

    event_id: int
    distance_km: float | None  # home to venue when they can meet in person, else None
    online: bool  # they can meet online
    interest: float  # noisy-OR of the shared interests (0.5 without interests)
    comfort_gap: int  # comfort level minus the event's intensity; -1 for a stretch
    explanation: str  # without the distance: the feed's text
    # |seeking & support| / |seeking|; None when not counted (the user seeks nothing, or the
    # event declares no support: unknown is not none), so such pairs score as before.
    support: float | None = None


def interest_score(event_tags: tuple[str, ...], interests: dict[str, float]) -> float:
    """Noisy-OR of the weights of the shared tags (in the event's tag order, as the bulk
    scorer multiplies them); 0.5 without interests."""
    miss = 1.0
    for tag in dict.fromkeys(event_tags):
        miss *= 1.0 - interests.get(tag, 0.0)
    score: float = rules.interest_from_miss(miss, bool(interests))
    return score


def is_eligible(
    profile: ScoringProfile, event: ScoringEvent, distance_km: float | None, *, now: datetime
) -> bool:
    """The SPEC's eligibility. `distance_km` is home→venue (None when there is no venue).

    A series is available when one of its occurrences in the feed's window that has not
    ended falls in an availability window (`availability_starts`); the weekly cap then
    leaves the others out of the feed.
    """
    return _match_mode(profile, event, distance_km, now) is not None


def _match_mode(
    profile: ScoringProfile, event: ScoringEvent, distance_km: float | None, now: datetime
) -> str | None:
    """'in_person', 'online' or 'both' when eligible (how the distance component is
    earned). The rules are `shared.match_rules`'; here they get one pair's values."""
    if event.status != "scheduled" or is_over(event, now) or event.id in profile.hidden_event_ids:
        return None
    highest = rules.highest_intensity(profile.comfort_level, profile.open_to_stretch)
    if not rules.comfort_allows(event.intensity, highest):
        return None
    shares_a_tag = any(tag in profile.interests for tag in event.tags)
    if not rules.interests_allow(bool(profile.interests), shares_a_tag):
        return None
    has_limit = profile.max_cost_cents is not None
    max_cost = profile.max_cost_cents or 0
    same_currency = event.currency == profile.currency
    if not rules.cost_allows(event.cost_cents, has_limit, max_cost, same_currency):
        return None
    share_one = bool(set(profile.languages) & set(event.languages))
    if not rules.languages_allow(bool(event.languages), bool(profile.languages), share_one):
        return None
    if not set(profile.accessibility_needs) <= set(event.accessibility):
        return None
    starts = availability_starts(event, profile.timezone, now) if profile.availability else []
    in_a_window = any(available_at(profile, start) for start in starts)
    if not rules.availability_allows(bool(profile.availability), in_a_window):
        return None
    in_person = rules.meets_in_person(
        rules.offers_in_person(event.format),
        "in_person" in profile.formats,
        math.nan if distance_km is None else distance_km,
        profile.radius_km,
    )
    online = rules.meets_online(rules.offers_online(event.format), "online" in profile.formats)
    if in_person and online:
        return "both"
    return "in_person" if in_person else "online" if online else None


def score_pair(
    profile: ScoringProfile, event: ScoringEvent, distance_km: float | None, *, now: datetime
) -> PairScore | None:
    """The parts of an eligible pair; None when not eligible. `distance_km` is home to
    venue (None when there is no venue)."""
    mode = _match_mode(profile, event, distance_km, now)
    if mode is None:
        return None
    shared = tuple(t for t in dict.fromkeys(event.tags) if t in profile.interests)
    return PairScore(
        event_id=event.id,
        distance_km=distance_km if mode in ("in_person", "both") else None,
        online=mode in ("online", "both"),
        interest=interest_score(event.tags, profile.interests),
        comfort_gap=rules.comfort_gap(profile.comfort_level, event.intensity),
        explanation=explanation(event, shared),
        support=support_score(profile.seeking, event.support),
    )


def support_score(seeking: Sequence[str], support: Sequence[str]) -> float | None:
    """The support component, or None when it is left out of the mean."""
    wanted, given = set(seeking), set(support)
    score: float = rules.support_fraction(len(wanted & given), len(wanted), len(given))
    return None if score == rules.NOT_COUNTED else score
