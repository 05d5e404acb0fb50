"""Erasing a user from Redis: their queued arq jobs and keys that count their calls.

PostgreSQL rows go with the profile row (ON DELETE CASCADE) and `delete_for_profile`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from arq.constants import (
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared import jobs
from shared.settings import Settings

log = logging.getLogger("lowkey.erasure")

JOB_KEY_PREFIXES = (job_key_prefix, in_progress_key_prefix, result_key_prefix, retry_key_prefix)


async def erase_from_redis(
    redis: Redis, settings: Settings, outbox_ids: Iterable[int], key_patterns: Iterable[str]
) -> bool:
    """Drop the profile's queued jobs and matching keys; False (logged) if Redis is down.

    The jobs carry ids only, and a job whose profile is gone does nothing, so an outage
    here leaves nothing personal behind in Redis.
    """
    job_ids = [jobs.job_id(settings.redis_prefix, "profile", oid) for oid in outbox_ids]
    try:
        if job_ids:
            await redis.zrem(settings.queue_name, *job_ids)
            await redis.delete(*(p + j for j in job_ids for p in JOB_KEY_PREFIXES))
        for pattern in key_patterns:
            found = [key async for key in redis.scan_iter(match=pattern, count=500)]
            if found:
                await redis.delete(*found)
    except (RedisError, OSError) as exc:
        log.warning("erasure from redis incomplete", extra={"error": type(exc).__name__})
        return False
    return True
