"""Venue addresses to coordinates through Nominatim (geopy), cached in PostgreSQL and
limited to one request a second across every process through a slot key in Redis.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from urllib.parse import urlparse

import asyncpg
from geopy.exc import GeopyError
from geopy.geocoders import Nominatim
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.db.geocode_cache import get_cached, put_cached
from shared.settings import Settings

log = logging.getLogger("lowkey.geocoding")

USER_AGENT = "lowkey/0.1 (+{contact})"  # Nominatim wants an identifying agent with a contact
# Nominatim allows one request a second per application; a little more leaves room for jitter.
SLOT_MS = 1050
MAX_WAIT_S = 10.0  # past this a request gives up rather than queue behind many others
TIMEOUT_S = 5.0

Point = tuple[float, float]


class AddressUnknown(ValueError):
    """The geocoder has no place for this address."""


class GeocoderUnavailable(RuntimeError):
    """The geocoder (or its rate limiter) did not answer in time."""


def normalise_address(address: str) -> str:
    """The cache key: case and spacing never make a second request."""
    return re.sub(r"\s+", " ", address).strip().lower()


def geocoder_for(settings: Settings) -> Nominatim:
    """geopy's Nominatim client, on `settings.geocoder_url` when given."""
    agent = USER_AGENT.format(contact=settings.public_url or "lowkey")
    if settings.geocoder_url:
        url = urlparse(settings.geocoder_url)
        return Nominatim(
            domain=(url.netloc + url.path).rstrip("/"), scheme=url.scheme, user_agent=agent
        )
    return Nominatim(user_agent=agent)


async def take_slot(redis: Redis, prefix: str, max_wait_s: float = MAX_WAIT_S) -> None:
    """Wait for this application's one geocoder request per second (SET NX PX in Redis)."""
    key = f"{prefix}:geocoder:slot"
    deadline = time.monotonic() + max_wait_s
    try:
        while not await redis.set(key, b"1", nx=True, px=SLOT_MS):
            ttl_ms = await redis.pttl(key)
            wait_s = max(ttl_ms, 10) / 1000 if ttl_ms > 0 else 0.01
            if time.monotonic() + wait_s > deadline:
                raise GeocoderUnavailable("the geocoder is busy; retry shortly")
            await asyncio.sleep(wait_s)
    except (RedisError, OSError) as exc:
        # Without the shared limiter we could exceed Nominatim's policy: refuse instead.
        raise GeocoderUnavailable("the geocoder's rate limiter is unavailable") from exc


async def restart_slot(redis: Redis, prefix: str) -> None:
    """After a request: the next one waits a full slot from now, so requests are spaced by
    at least SLOT_MS however long this one took to reach the geocoder."""
    try:
        await redis.set(f"{prefix}:geocoder:slot", b"1", px=SLOT_MS)
    except (RedisError, OSError):
        log.warning("could not restart the geocoder slot")


async def geocode(
    address: str, *, settings: Settings, pool: asyncpg.Pool, redis: Redis, cache: bool = True
) -> Point:
    """(lat, lon) of an address: from the cache, or asked of the geocoder once. With
    `cache=False` (a person's home) the address is neither looked up nor kept in the cache."""
    query = normalise_address(address)
    if cache:
        async with pool.acquire() as conn:
            found, point = await get_cached(conn, query)
        if found:
            if point is None:
                raise AddressUnknown(address)
            return point
    await take_slot(redis, settings.redis_prefix)
    client = geocoder_for(settings)
    try:
        location = await asyncio.to_thread(
            client.geocode, query, exactly_one=True, timeout=TIMEOUT_S
        )
    except (GeopyError, OSError, ValueError) as exc:
        log.warning("geocoder failed", extra={"error": type(exc).__name__})
        raise GeocoderUnavailable("the geocoder did not answer") from exc
    finally:
        await restart_slot(redis, settings.redis_prefix)
    point = None if location is None else (float(location.latitude), float(location.longitude))
    if cache:
        async with pool.acquire() as conn:
            await put_cached(conn, query, point)
    if point is None:
        raise AddressUnknown(address)
    return point
