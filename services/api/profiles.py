"""POST /v1/profiles: a user describes themselves once and gets a token and a feed URL.

Also what `/v1/me` shares with it: a feed token's URLs and enqueuing a profile's re-score.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from arq.connections import ArqRedis
from litestar import Controller, Request, post
from litestar.params import JSONBody

from services.api.idempotency import note_profile
from services.api.ratelimit import profile_creation_limit
from services.api.responses import NO_STORE, IdempotencyKey, problems
from shared.db.outbox import add_outbox
from shared.db.profiles import insert_profile
from shared.http.deps import PoolDep, QueueDep, SettingsDep
from shared.models.profiles import FeedUrls, ProfileCreate, ProfileCreated
from shared.queue import enqueue_after_commit
from shared.settings import Settings
from shared.tokens import issue_profile_tokens


def feed_urls(settings: Settings, feed_token: str) -> FeedUrls:
    url = f"{settings.feed_base_url}/feeds/{feed_token}.ics"
    return FeedUrls(feed_url=url, webcal_url="webcal://" + url.split("://", 1)[1])


async def enqueue_profile(
    pool: asyncpg.Pool, queue: ArqRedis, settings: Settings, outbox_id: int, pid: int
) -> None:
    """After commit; with Redis down the outbox sweep enqueues it later."""
    await enqueue_after_commit(pool, queue, settings.redis_prefix, "profile", outbox_id, pid)


class ProfilesController(Controller):
    path = "/v1/profiles"
    tags = ["profiles"]

    @post(
        "/",
        status_code=201,
        guards=[profile_creation_limit],
        cache_control=NO_STORE,
        responses=problems(400, 413, 422, 429, post=True),
        summary="Create a profile (no key); the answer holds its token, shown once",
    )
    async def create_profile(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ProfileCreate],
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
        idempotency_key: IdempotencyKey = None,
    ) -> ProfileCreated:
        assert settings.secret_key is not None
        tokens = issue_profile_tokens(settings.secret_key)
        async with pool.acquire() as conn, conn.transaction():
            profile = await insert_profile(
                conn,
                data,
                token_hash=tokens.hash,
                feed_token_hash=tokens.feed.hash,
                feed_token_sealed=tokens.feed.sealed,
            )
            outbox_id = await add_outbox(conn, "profile", profile.id)
        note_profile(request, profile.id)
        await enqueue_profile(pool, queue, settings, outbox_id, profile.id)
        urls = feed_urls(settings, tokens.feed.token)
        return ProfileCreated(
            **{f: getattr(profile, f) for f in profile.__struct_fields__},
            feed_url=urls.feed_url,
            webcal_url=urls.webcal_url,
            token=tokens.token,
        )
