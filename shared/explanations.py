"""The words of a match: its one-line explanation ("1.8 km away · board games · small,
structured group, newcomers welcomed · free"), as the feed and the API show it. No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared import match_rules as rules
from shared.models.support import shared_support_words

if TYPE_CHECKING:  # types only: shared.scoring imports this module
    from shared.scoring import ScoringEvent

_SIZE_WORDS = {1: "small", 2: "small", 3: "mid-sized", 4: "large", 5: "large"}
_STRUCTURE_WORDS = {"structured": "structured", "semi": "semi-structured", "open": "open"}
_NOISE_WORDS = {"quiet": "quiet", "moderate": "", "loud": "loud"}
_CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}


def describe_event(event: ScoringEvent) -> str:
    """The pair-independent part of the explanation: the group and the cost."""
    adjectives = [
        _SIZE_WORDS[rules.size_level(event.group_size)],
        _NOISE_WORDS.get(event.noise, ""),
    ]
    adjectives.append(_STRUCTURE_WORDS.get(event.structure, event.structure))
    parts = [", ".join(a for a in adjectives if a) + " group"]
    if event.talking_optional:
        parts.append("talking optional")
    if event.newcomer_support:
        parts.append("newcomers welcomed")
    return ", ".join(parts) + " · " + describe_cost(event.cost_cents, event.currency)


def describe_cost(cost_cents: int, currency: str) -> str:
    """'free', '€5', '€5.50', '12 CHF' (two minor digits assumed, as `cost_cents` says)."""
    if cost_cents == 0:
        return "free"
    amount = f"{cost_cents // 100}" if cost_cents % 100 == 0 else f"{cost_cents / 100:.2f}"
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def describe_tags(tags: tuple[str, ...]) -> str:
    return ", ".join(tag.replace("-", " ") for tag in tags)


def explanation(event: ScoringEvent, shared_tags: tuple[str, ...]) -> str:
    """'board games · small, structured group, newcomers welcomed · free' (no distance)."""
    event_part = describe_event(event)
    return f"{describe_tags(shared_tags)} · {event_part}" if shared_tags else event_part


def format_distance(distance_km: float | None) -> str:
    """'1.8 km away' under 10 km, '12 km away' beyond, 'online' for online matches."""
    if distance_km is None:
        return "online"
    tenths = math.floor(distance_km * 10 + 0.5)
    if tenths < 100:
        return f"{tenths // 10}.{tenths % 10} km away"
    return f"{math.floor(distance_km + 0.5)} km away"


def with_distance(explanation_text: str, distance_km: float | None) -> str:
    """The distance first, then the stored (feed) text."""
    return f"{format_distance(distance_km)} · {explanation_text}"


def api_explanation(
    explanation_text: str,
    distance_km: float | None,
    seeking: Sequence[str],
    support: Sequence[str],
) -> str:
    """The API's explanation: the distance, the stored (feed) text, then the support the
    user would like that the event gives, in plain words (never in the feed: it would tell
    what the user seeks)."""
    text = with_distance(explanation_text, distance_km)
    words = shared_support_words(seeking, support)
    return text if words is None else f"{text} · {words} on offer"
