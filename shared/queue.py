"""The arq Redis connection, and enqueuing outbox work after a transaction commits.

Connections are made lazily with short timeouts: a Redis outage must never take the
API down, since the outbox in PostgreSQL keeps the work until the sweep re-enqueues it.
"""

from __future__ import annotations

import logging

from arq.connections import ArqRedis, RedisSettings
from asyncpg import Pool
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

from shared import jobs
from shared.db.outbox import mark_enqueued
from shared.settings import Settings

log = logging.getLogger("lowkey.queue")


def redis_settings(settings: Settings) -> RedisSettings:
    if settings.redis_url is None:
        raise RuntimeError("redis_url is not set; start embedded servers first")
    rs = RedisSettings.from_dsn(settings.redis_url)
    rs.conn_timeout = 2
    rs.conn_retries = 1
    rs.conn_retry_delay = 0
    return rs


def connect_queue(settings: Settings) -> ArqRedis:
    """An ArqRedis client that connects on first use (no ping at start-up)."""
    if settings.redis_url is None:
        raise RuntimeError("redis_url is not set; start embedded servers first")
    pool = ConnectionPool.from_url(
        settings.redis_url,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        retry_on_timeout=False,
    )
    return ArqRedis(connection_pool=pool, default_queue_name=settings.queue_name)


async def enqueue_outbox(
    queue: ArqRedis, prefix: str, kind: str, outbox_id: int, subject_id: int
) -> bool:
    """Enqueue the job for one outbox row; False (and logged) when Redis is unreachable."""
    try:
        await queue.enqueue_job(
            jobs.JOB_FOR_KIND[kind],
            outbox_id,
            subject_id,
            _job_id=jobs.job_id(prefix, kind, outbox_id),
        )
    except (RedisError, OSError) as exc:
        log.warning("enqueue deferred to the outbox sweep", extra={"error": type(exc).__name__})
        return False
    return True


async def enqueue_after_commit(
    pool: Pool, queue: ArqRedis, prefix: str, kind: str, outbox_id: int, subject_id: int
) -> bool:
    """The one path from a committed outbox row to its job: enqueue it, then mark the row
    sent (the sweep leaves it alone while it is fresh). False when Redis is unreachable:
    the row waits for the sweep."""
    if not await enqueue_outbox(queue, prefix, kind, outbox_id, subject_id):
        return False
    async with pool.acquire() as conn:
        await mark_enqueued(conn, outbox_id)
    return True
