"""SQL for what the sign-up offers: the upcoming events within a box around a home (and
the online ones), with only what the choices need (tags, languages, zone, currency)."""

from __future__ import annotations

import asyncpg
import msgspec

# The box (lon/lat degrees, from shared.db.events.search_box) only pre-filters through the
# GiST index; the caller keeps what lies within the exact radius. Online events are in
# reach of everyone. Each part is bounded: the choices need a fair sample, not every row.
SELECT_NEARBY = """
(SELECT lat, lon, format, tags, languages, timezone, currency FROM events
 WHERE lat IS NOT NULL AND point(lon, lat) <@ box(point($1, $2), point($3, $4))
   AND status = 'scheduled' AND (over_at IS NULL OR over_at > now())
 LIMIT $5)
UNION ALL
(SELECT lat, lon, format, tags, languages, timezone, currency FROM events
 WHERE format = 'online' AND status = 'scheduled' AND (over_at IS NULL OR over_at > now())
 LIMIT $5)
"""


class NearbyEvent(msgspec.Struct, frozen=True, kw_only=True):
    lat: float | None
    lon: float | None
    format: str
    tags: list[str]
    languages: list[str]
    timezone: str
    currency: str


async def events_near(
    conn: asyncpg.Connection,
    box: tuple[float, float, float, float],
    *,
    limit: int = 3000,
) -> list[NearbyEvent]:
    rows = await conn.fetch(SELECT_NEARBY, *box, limit)
    return [NearbyEvent(**dict(r)) for r in rows]
