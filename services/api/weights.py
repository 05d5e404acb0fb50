"""Admin calls on match weights: the active version, a new version, history, re-activation
and the preview. A change is live at once: every reader of matches applies the active
weights (shared/db/weighing.py), so a change writes no match row and queues no job.
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
from litestar import Controller, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from services.api.auth import admin_only
from services.api.responses import IdempotencyKey, problems
from shared.db import weights as db
from shared.http.cursor import Cursor, bigint, decode_cursor, encode_cursor, tag
from shared.http.deps import PoolDep
from shared.http.problems import Conflict, NotFound
from shared.models.common import Page
from shared.models.weights import PreviewRequest, PreviewResult, WeightsUpdate, WeightVersion
from shared.preview import SampleTooSmall, run_preview

MAX_VERSION = 2**31 - 1  # weight_versions.version is a PostgreSQL integer


async def save_weights(pool: asyncpg.Pool, update: WeightsUpdate) -> WeightVersion:
    """Create version N+1 and make it active: live at once, since the weights are applied
    where matches are read; no match row is written."""
    async with pool.acquire() as conn, conn.transaction():
        await db.lock_active(conn)
        version = await db.insert_version(conn, update)
        await db.set_active(conn, version)
        saved = await db.get_version(conn, version)
    assert saved is not None
    return saved


async def activate_version(pool: asyncpg.Pool, version: int) -> WeightVersion:
    """Make an existing version active (live at once); already active: nothing to do."""
    if not 1 <= version <= MAX_VERSION:
        raise NotFound(f"no weight version {version}")
    async with pool.acquire() as conn, conn.transaction():
        current = await db.lock_active(conn)
        if await db.get_version(conn, version) is None:
            raise NotFound(f"no weight version {version}")
        if current != version:
            await db.set_active(conn, version)
        activated = await db.get_version(conn, version)
    assert activated is not None
    return activated


def history_cursor(version: int) -> str:
    return encode_cursor("w", version)


def version_before(cursor: str | None) -> int | None:
    parts = decode_cursor(cursor, tag("w"), bigint)
    return None if parts is None else int(parts[1])


async def weight_history(
    pool: asyncpg.Pool, *, limit: int, cursor: str | None
) -> Page[WeightVersion]:
    before = version_before(cursor)
    async with pool.acquire() as conn:
        rows = await db.history(conn, before=before, limit=limit + 1)
    items = rows[:limit]
    more = len(rows) > limit
    return Page(items=items, next=history_cursor(items[-1].version) if more else None)


class AdminWeightsController(Controller):
    path = "/v1/admin/weights"
    guards = [admin_only]
    tags = ["admin"]

    @get("/", responses=problems(401, 403))
    async def active(self, pool: PoolDep) -> WeightVersion:
        """The active weight version."""
        async with pool.acquire() as conn:
            return await db.active_version(conn)

    @put("/", status_code=201, responses=problems(400, 401, 403, 413, 422))
    async def replace(self, data: JSONBody[WeightsUpdate], pool: PoolDep) -> WeightVersion:
        """Save the whole weight set as a new version (201) and make it active: every
        user's matches, and their feeds from their next poll, follow it at once."""
        return await save_weights(pool, data)

    @get("/history", responses=problems(401, 403, 422))
    async def history(
        self,
        pool: PoolDep,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        cursor: Cursor = None,
    ) -> Page[WeightVersion]:
        """Every version, newest first; `active` marks the one in use."""
        return await weight_history(pool, limit=limit, cursor=cursor)

    @post(
        "/{version:int}/activate",
        status_code=200,
        responses=problems(401, 403, 404, 409, 422, post=True),
    )
    async def activate(
        self,
        version: FromPath[int],
        pool: PoolDep,
        idempotency_key: IdempotencyKey = None,
    ) -> WeightVersion:
        """Make an earlier version active again (no new version), live at once."""
        return await activate_version(pool, version)

    @post("/preview", status_code=200, responses=problems(400, 401, 403, 409, 413, 422, post=True))
    async def preview(
        self, data: JSONBody[PreviewRequest], pool: PoolDep, idempotency_key: IdempotencyKey = None
    ) -> PreviewResult:
        """What a candidate weight set would change for a seeded sample of users (20 to
        500); saves nothing. Sampled users are named only by their index and shown only
        as ranks, events and explanations: no score, component or distance per user, only
        the aggregate counts and histograms. 409 with fewer than 20 users to sample."""
        try:
            return await run_preview(
                pool, data.weights, sample_size=data.sample_size, seed=data.seed
            )
        except SampleTooSmall as exc:
            raise Conflict(str(exc)) from None
