"""SQL the weights preview reads: a seeded sample of profiles and the live events, as
the pure scorer's Structs. Reads only; the preview never writes."""

from __future__ import annotations

import asyncpg
import msgspec

from shared.scoring import ScoringEvent, ScoringProfile, availability_from_wire

# md5 of id and seed orders profiles the same way for the same seed, differently for
# another, without a random() that would change between calls.
SAMPLE_PROFILES = """
SELECT p.id, p.home_lat, p.home_lon, p.radius_km, p.interests, p.comfort_level,
       (p.open_to_stretch AND NOT coalesce(p.stretch_paused_until > now(), false))
           AS open_to_stretch, p.formats, p.max_cost_cents, p.currency, p.languages,
       p.accessibility_needs, p.availability, p.timezone, p.max_events_per_week,
       coalesce((SELECT array_agg(h.event_id) FROM hidden_events h WHERE h.profile_id = p.id),
                '{}') AS hidden_event_ids
FROM profiles p
ORDER BY md5(p.id::text || ':' || $1::text), p.id
LIMIT $2
"""
LIVE_EVENTS = """
SELECT id, title, format, lat, lon, tags, intensity, group_size, structure, noise,
       talking_optional, newcomer_support, starts_at, ends_at, timezone, recurrence,
       over_at, status, cost_cents, currency, languages, accessibility
FROM events
WHERE status = 'scheduled' AND (over_at IS NULL OR over_at > now())
ORDER BY id
"""


async def sample_profiles(
    conn: asyncpg.Connection, *, seed: int, size: int
) -> list[ScoringProfile]:
    profiles = []
    for row in await conn.fetch(SAMPLE_PROFILES, str(seed), size):
        data = dict(row)
        data["availability"] = availability_from_wire(data["availability"])
        profiles.append(msgspec.convert(data, ScoringProfile))
    return profiles


async def live_events(conn: asyncpg.Connection) -> tuple[list[ScoringEvent], dict[int, str]]:
    """The live events, and their titles by id (for people reading the preview)."""
    rows = await conn.fetch(LIVE_EVENTS)
    titles = {int(r["id"]): str(r["title"]) for r in rows}
    events = [
        msgspec.convert({k: v for k, v in r.items() if k != "title"}, ScoringEvent) for r in rows
    ]
    return events, titles
