"""`GET /v1/admin/stats`: what the overview shows (counts, queues, the last re-score)."""

from __future__ import annotations

import asyncpg
from arq.connections import ArqRedis
from litestar import Controller, get
from redis.exceptions import RedisError

from services.api.auth import admin_only
from services.api.responses import problems
from shared.db import stats as db
from shared.db.outbox import count_parked, count_pending
from shared.db.weights import last_rescore_run
from shared.http.deps import PoolDep, QueueDep, SettingsDep
from shared.models.weights import Stats
from shared.settings import Settings


async def queue_depth(queue: ArqRedis, settings: Settings) -> int | None:
    """Jobs waiting in the arq queue; None when Redis does not answer (never an error)."""
    try:
        depth: int = await queue.zcard(settings.queue_name)
    except (RedisError, OSError):
        return None
    return depth


async def collect_stats(pool: asyncpg.Pool, queue: ArqRedis, settings: Settings) -> Stats:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        counts = await db.counts(conn)
        outbox = await count_pending(conn)
        parked = await count_parked(conn)
        last_run = await last_rescore_run(conn)
        by_intensity = await db.live_events_by_intensity(conn)
        per_user = await db.matches_per_user(conn)
        pairs, answers, changes = await db.first_step_counts(conn)
    return Stats(
        profiles=counts["profiles"],
        events=counts["events"],
        live_events=counts["live_events"],
        matches=counts["matches"],
        outbox_depth=outbox,
        queue_depth=await queue_depth(queue, settings),
        last_full_rescore=last_run,
        events_by_intensity=by_intensity,
        matches_per_user=per_user,
        parked_jobs=parked,
        buddy_pairs=pairs,
        checkins_by_answer=answers,
        comfort_changes=changes,
    )


class AdminStatsController(Controller):
    path = "/v1/admin/stats"
    guards = [admin_only]
    tags = ["admin"]

    @get("/", responses=problems(401, 403))
    async def stats(self, pool: PoolDep, queue: QueueDep, settings: SettingsDep) -> Stats:
        """Counts, outbox and queue depth, parked jobs, the last full re-score and two
        distributions."""
        return await collect_stats(pool, queue, settings)
