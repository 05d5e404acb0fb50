"""What an event's public page shows, read from the stored event: its next dates in its
own zone (through shared.occurrences), the place, what it is like.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from services.api.pages.words import (
    ACCESS_WORDS,
    NOISE_WORDS,
    STRUCTURE_WORDS,
    group_words,
    language_name,
)
from shared.explanations import describe_cost
from shared.first_visit import first_visit_sentences
from shared.models.events import Event
from shared.models.support import SUPPORT_KINDS, SUPPORT_WORDS
from shared.occurrences import CAP_WEEKS, next_occurrence_start, occurrence_starts
from shared.scoring import ScoringEvent

SHOWN_DATES = 5
OSM_ZOOM = 17


def stored_scoring_event(event: Event) -> ScoringEvent:
    """The stored event as shared.scoring reads it."""
    return ScoringEvent(
        id=event.id,
        format=event.format,
        lat=event.venue.lat if event.venue else None,
        lon=event.venue.lon if event.venue else None,
        tags=tuple(event.tags),
        intensity=event.intensity,
        group_size=event.group_size,
        structure=event.structure,
        noise=event.noise,
        talking_optional=event.talking_optional,
        newcomer_support=event.newcomer_support,
        starts_at=datetime.fromisoformat(event.starts_at),
        ends_at=datetime.fromisoformat(event.ends_at),
        timezone=event.timezone,
        recurrence=event.recurrence,
        over_at=event.over_at,
        status=event.status,
        cost_cents=event.cost_cents,
        currency=event.currency,
        languages=tuple(event.languages),
        accessibility=tuple(event.accessibility),
    )


def upcoming_starts(event: ScoringEvent, now: datetime, limit: int = SHOWN_DATES) -> list[datetime]:
    """The starts (aware, in the event's zone) of the next few occurrences not yet ended."""
    first = next_occurrence_start(event, now)
    if first is None:
        return []
    if not event.recurrence:
        return [first]
    later = occurrence_starts(event, first, first + timedelta(weeks=CAP_WEEKS))
    return (later or [first])[:limit]


def osm_link(lat: float, lon: float) -> str:
    query = urlencode({"mlat": f"{lat:.5f}", "mlon": f"{lon:.5f}"})
    return f"https://www.openstreetmap.org/?{query}#map={OSM_ZOOM}/{lat:.5f}/{lon:.5f}"


def what_it_is_like(event: Event) -> list[str]:
    lines = [group_words(event.group_size), STRUCTURE_WORDS[event.structure]]
    lines.append(NOISE_WORDS[event.noise])
    if event.talking_optional:
        lines.append("Talking is optional: you can just listen or join in the activity.")
    if event.newcomer_support:
        lines.append("Newcomers are welcomed: someone greets you and shows you around.")
    return lines


def event_view(event: Event, now: datetime) -> dict[str, Any]:
    scored = stored_scoring_event(event)
    zone = ZoneInfo(event.timezone)
    duration = scored.ends_at - scored.starts_at
    dates = [
        {"start": start.astimezone(zone), "end": (start + duration).astimezone(zone)}
        for start in upcoming_starts(scored, now)
    ]
    venue = event.venue
    place = None
    if venue is not None and event.format != "online":
        place = {
            "name": venue.name,
            "address": venue.address,
            "map": osm_link(venue.lat, venue.lon)
            if venue.lat is not None and venue.lon is not None
            else None,
        }
    return {
        "event": event,
        "cancelled": event.status == "cancelled",
        "over": not dates,
        "dates": dates,
        "repeats": bool(event.recurrence),
        "place": place,
        "online": event.format in ("online", "hybrid"),
        "like": what_it_is_like(event),
        "first_time": first_visit_sentences(event.first_visit, event.accessibility),
        "intensity": event.intensity,
        "access": [ACCESS_WORDS.get(a, a.replace("_", " ")) for a in event.accessibility],
        "support": [SUPPORT_WORDS[k] for k in SUPPORT_KINDS if k in event.support],
        "cost": describe_cost(event.cost_cents, event.currency),
        "languages": [language_name(code) for code in event.languages],
        "tags": [tag.replace("-", " ") for tag in event.tags],
    }
