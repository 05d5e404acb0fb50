"""Indexed candidate queries: which profiles might match an event, which events a profile.

Both are cheap supersets (a box or an online flag); the exact geodesic and the full
eligibility are the caller's. The reach box repeats migration 0001's `profiles_reach`
expression verbatim, so the planner can use that GiST index.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.db.events import search_box

REACH_BOX = """box(
        point(
            home_lon - radius_km / (110.0 * greatest(cos(radians(least(abs(home_lat) + radius_km / 110.0 + 0.01, 89.9))), 0.001)),
            home_lat - radius_km / 110.0 - 0.01
        ),
        point(
            home_lon + radius_km / (110.0 * greatest(cos(radians(least(abs(home_lat) + radius_km / 110.0 + 0.01, 89.9))), 0.001)),
            home_lat + radius_km / 110.0 + 0.01
        )
    )"""  # noqa: E501 (kept identical to the index expression)
# A venue as a degenerate box: `&&` (overlap) is a GiST box operator.
PROFILES_REACHING = f"""
SELECT id FROM profiles
WHERE {REACH_BOX} && box(point($1::float8, $2::float8), point($1::float8, $2::float8))
"""  # noqa: S608 (constant expression)
PROFILES_ONLINE = "SELECT id FROM profiles WHERE 'online' = ANY (formats)"
EVENTS_IN_BOX = """
SELECT id FROM events
WHERE lat IS NOT NULL AND point(lon, lat) <@ box(point($1, $2), point($3, $4))
  AND format IN ('in_person', 'hybrid')
  AND status = 'scheduled' AND (over_at IS NULL OR over_at > $5)
"""
EVENTS_ONLINE = """
SELECT id FROM events
WHERE format IN ('online', 'hybrid')
  AND status = 'scheduled' AND (over_at IS NULL OR over_at > $1)
"""


async def profiles_for_event(
    conn: asyncpg.Connection, lat: float | None, lon: float | None, *, online: bool
) -> list[int]:
    """Profiles whose reach box holds the venue, plus (for online/hybrid) all who take online."""
    ids: set[int] = set()
    if lat is not None and lon is not None:
        ids.update(r["id"] for r in await conn.fetch(PROFILES_REACHING, lon, lat))
    if online:
        ids.update(r["id"] for r in await conn.fetch(PROFILES_ONLINE))
    return sorted(ids)


async def events_for_profile(
    conn: asyncpg.Connection,
    lat: float,
    lon: float,
    radius_km: float,
    *,
    in_person: bool,
    online: bool,
    now: datetime,
) -> list[int]:
    """Live events whose venue is in the box around the home, plus online/hybrid ones."""
    ids: set[int] = set()
    if in_person:
        lon_min, lat_min, lon_max, lat_max = search_box(lat, lon, radius_km)
        rows = await conn.fetch(EVENTS_IN_BOX, lon_min, lat_min, lon_max, lat_max, now)
        ids.update(r["id"] for r in rows)
    if online:
        ids.update(r["id"] for r in await conn.fetch(EVENTS_ONLINE, now))
    return sorted(ids)
