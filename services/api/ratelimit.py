"""Rate limits kept in Redis (fixed one-minute windows), shared by every API process.

Keys hold a keyed hash of who is counted, never an address. Redis down: fail open.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.api.client_address import client_address
from shared.crypto import token_hash
from shared.http.problems import TooManyRequests
from shared.settings import Settings

log = logging.getLogger("lowkey.ratelimit")

WINDOW_S = 60


def bucket_prefix(settings: Settings, bucket: str, subject: str) -> str:
    assert settings.secret_key is not None
    digest = token_hash(settings.secret_key, subject, purpose=f"rl:{bucket}").hex()[:32]
    return f"{settings.redis_prefix}:rl:{bucket}:{digest}"


def profile_key_patterns(settings: Settings, profile_id: int) -> list[str]:
    """SCAN patterns for every key that counts a profile's own calls (for erasure)."""
    return [f"{bucket_prefix(settings, b, f'profile:{profile_id}')}:*" for b in ME_BUCKETS]


async def hit(redis: Redis, settings: Settings, bucket: str, subject: str, limit: int) -> None:
    """Count one call; raise TooManyRequests past `limit` calls in this window."""
    now = time.time()
    window = int(now // WINDOW_S)
    key = f"{bucket_prefix(settings, bucket, subject)}:{window}"
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_S + 5)
            count, _ = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("rate limit skipped: redis unavailable", extra={"error": type(exc).__name__})
        return
    if int(count) > limit:
        raise TooManyRequests(max(1, int((window + 1) * WINDOW_S - now + 0.999)))


async def profile_creation_limit(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard: `profile_rate_limit` profile creations per client address per minute."""
    state = connection.app.state
    settings: Settings = state.settings
    address = client_address(connection.scope, settings.trusted_proxies)
    await hit(state.queue, settings, "profiles", address, settings.profile_rate_limit)


# A user's own calls that change things, per minute (generous: they stop scripted abuse).
ME_WRITES_PER_MINUTE = 60
ME_BUCKETS = ("me-write", "buddy-redeem")  # buddy-redeem: services/api/buddy.py


async def me_write_limit(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard for /v1/me writes, counted per profile (erased with the profile)."""
    state = connection.app.state
    settings: Settings = state.settings
    caller = connection.state.get("caller")
    if caller is None or caller.id is None:
        return
    await hit(state.queue, settings, "me-write", f"profile:{caller.id}", ME_WRITES_PER_MINUTE)
