"""SQL for geocode_cache: each normalised address is asked of the geocoder once."""

from __future__ import annotations

import asyncpg

SELECT = "SELECT lat, lon FROM geocode_cache WHERE query = $1"
# A miss (address unknown) is cached too, with NULL lat/lon: Nominatim asks not to repeat.
UPSERT = """
INSERT INTO geocode_cache (query, lat, lon) VALUES ($1, $2, $3)
ON CONFLICT (query) DO UPDATE SET lat = EXCLUDED.lat, lon = EXCLUDED.lon, created_at = now()
"""

Cached = tuple[float, float] | None


async def get_cached(conn: asyncpg.Connection, query: str) -> tuple[bool, Cached]:
    """(found, point): found=False when never asked; point None when the address is unknown."""
    row = await conn.fetchrow(SELECT, query)
    if row is None:
        return False, None
    if row["lat"] is None or row["lon"] is None:
        return True, None
    return True, (float(row["lat"]), float(row["lon"]))


async def put_cached(conn: asyncpg.Connection, query: str, point: Cached) -> None:
    lat, lon = point if point is not None else (None, None)
    await conn.execute(UPSERT, query, lat, lon)
