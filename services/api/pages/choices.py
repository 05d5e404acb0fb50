"""What the sign-up offers to choose from: the topics, languages, time zones and currencies
of the upcoming events within reach of the home given so far (online ones included)."""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from services.api.pages.answers import Answers, first
from shared.db.events import search_box
from shared.db.nearby import events_near
from shared.geodesy import distances_km

SHOWN_TAGS = 24
SHOWN_LANGUAGES = 12
# Before the person says how far they would go, guesses look this far around.
GUESS_RADIUS_KM = 25.0
MAX_RADIUS_KM = 200.0


class Choices(NamedTuple):
    tags: list[str]
    languages: list[str]
    zones: Counter[str]
    currencies: Counter[str]


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


async def reach_choices(pool: Any, answers: Answers) -> Choices:
    lat, lon = _float(first(answers, "lat")), _float(first(answers, "lon"))
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return Choices([], [], Counter(), Counter())
    radius = (
        _float(first(answers, "radius_other"))
        if first(answers, "radius_km") == "other"
        else (_float(first(answers, "radius_km")))
    )
    radius = min(max(radius or GUESS_RADIUS_KM, 0.1), MAX_RADIUS_KM)
    async with pool.acquire() as conn:
        events = await events_near(conn, search_box(lat, lon, radius))
    placed = [e for e in events if e.lat is not None and e.lon is not None]
    km = distances_km(lat, lon, [e.lat or 0.0 for e in placed], [e.lon or 0.0 for e in placed])
    within = [e for e, d in zip(placed, km, strict=True) if d <= radius and e.format != "online"]
    reach = within + [e for e in events if e.format == "online"]
    tags = Counter(tag for e in reach for tag in e.tags)
    languages = Counter(code for e in reach for code in e.languages)
    return Choices(
        tags=sorted(tag for tag, _ in tags.most_common(SHOWN_TAGS)),
        languages=[code for code, _ in languages.most_common(SHOWN_LANGUAGES)],
        zones=Counter(e.timezone for e in within) or Counter(e.timezone for e in reach),
        currencies=Counter(e.currency for e in within) or Counter(e.currency for e in reach),
    )
