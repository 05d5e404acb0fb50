"""/v1/me…: a user reads, changes, exports and erases their own profile, rotates the
feed URL and hides events. Only a profile token may call these (GET /v1/me/matches
lives with the matching code).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import msgspec
from arq.connections import ArqRedis
from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, PathParameter

from services.api.auth import Caller, CallerDep, profile_only
from services.api.checkins import after_profile_patch
from services.api.profiles import enqueue_profile, feed_urls
from services.api.ratelimit import me_write_limit, profile_key_patterns
from services.api.responses import NO_STORE, IdempotencyKey, problems
from shared.crypto import SealError
from shared.db import checkins as db_checkins
from shared.db.buddies import read_buddy
from shared.db.hidden import hidden_events, hide_event, unhide_event
from shared.db.idempotency import count_for_profile
from shared.db.outbox import add_outbox, delete_for_profile
from shared.db.profiles import (
    delete_profile,
    fetch_profile,
    matches_for_export,
    replace_feed_token,
    update_profile,
)
from shared.erasure import erase_from_redis
from shared.http.deps import PoolDep, QueueDep, SettingsDep
from shared.http.problems import NotFound, Unauthorized
from shared.models.profiles import (
    FeedUrls,
    Profile,
    ProfileCreate,
    ProfileExport,
    ProfileUpdate,
    ProfileWithFeed,
)
from shared.settings import Settings
from shared.tokens import issue_feed_token, open_feed_token

# At most 2**53 - 1: an id any JSON client holds exactly (a larger bound, written in a
# schema as a double, rounds above PostgreSQL's bigint and misleads schema-driven clients).
EventId = Annotated[int, PathParameter(ge=1, le=2**53 - 1, description="an event id")]
# Every /v1/me call may meet a token that was just erased (401) or a non-profile key (403).
AUTH = (401, 403)


def with_feed(settings: Settings, profile: Profile, sealed: bytes, token: str) -> ProfileWithFeed:
    assert settings.secret_key is not None
    try:
        urls = feed_urls(settings, open_feed_token(settings.secret_key, sealed, token))
    except SealError:  # sealed under another token: cannot happen unless the DB was edited
        raise Unauthorized("the profile token does not open this profile") from None
    fields = {f: getattr(profile, f) for f in profile.__struct_fields__}
    return ProfileWithFeed(**fields, feed_url=urls.feed_url, webcal_url=urls.webcal_url)


def merged(current: Profile, update: ProfileUpdate) -> ProfileCreate:
    """The whole profile after a PATCH, validated again (cross-field rules included)."""
    base = msgspec.to_builtins(current)
    for name in ("id", "created_at", "updated_at"):
        base.pop(name)
    base.update(msgspec.to_builtins(update.given()))
    return msgspec.convert(base, ProfileCreate)


def _profile_token(caller: Caller) -> tuple[int, str]:
    assert caller.id is not None and caller.token is not None
    return caller.id, caller.token


class MeController(Controller):
    path = "/v1/me"
    tags = ["me"]
    guards = [profile_only]
    cache_control = NO_STORE  # the answers carry the feed URL

    @get("/", responses=problems(*AUTH), summary="Your profile, with your feed URL")
    async def read(
        self, caller: CallerDep, settings: SettingsDep, pool: PoolDep
    ) -> ProfileWithFeed:
        pid, token = _profile_token(caller)
        async with pool.acquire() as conn:
            found = await fetch_profile(conn, pid)
            changes = await db_checkins.comfort_changes(conn, pid)
        if found is None:
            raise Unauthorized("the Bearer key is not known")
        return msgspec.structs.replace(with_feed(settings, *found, token), comfort_changes=changes)

    @patch(
        "/",
        guards=[me_write_limit],
        responses=problems(*AUTH, 400, 413, 422, 429),
        summary="Change the named fields of your profile",
    )
    async def update(
        self,
        data: JSONBody[ProfileUpdate],
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
    ) -> ProfileWithFeed:
        pid, token = _profile_token(caller)
        async with pool.acquire() as conn, conn.transaction():
            found = await fetch_profile(conn, pid, for_update=True)
            if found is None:
                raise Unauthorized("the Bearer key is not known")
            profile = await update_profile(conn, pid, merged(found[0], data))
            await after_profile_patch(conn, pid, found[0], data)
            changes = await db_checkins.comfort_changes(conn, pid)
            outbox_id = await add_outbox(conn, "profile", pid)
        await enqueue_profile(pool, queue, settings, outbox_id, pid)
        return msgspec.structs.replace(
            with_feed(settings, profile, found[1], token), comfort_changes=changes
        )

    @delete(
        "/",
        status_code=204,
        responses=problems(*AUTH),
        summary="Erase everything stored about you, in PostgreSQL and Redis",
    )
    async def erase(
        self, caller: CallerDep, settings: SettingsDep, pool: PoolDep, queue: QueueDep
    ) -> None:
        pid, _ = _profile_token(caller)
        async with pool.acquire() as conn, conn.transaction():
            outbox_ids = await delete_for_profile(conn, pid)
            await delete_profile(conn, pid)
        await erase_from_redis(queue, settings, outbox_ids, profile_key_patterns(settings, pid))

    @get("/export", responses=problems(*AUTH), summary="Everything stored about you, as JSON")
    async def export(
        self, caller: CallerDep, settings: SettingsDep, pool: PoolDep
    ) -> ProfileExport:
        pid, token = _profile_token(caller)
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            found = await fetch_profile(conn, pid)
            if found is None:
                raise Unauthorized("the Bearer key is not known")
            hidden = await hidden_events(conn, pid)
            matches = await matches_for_export(conn, pid)
            idempotency = await count_for_profile(conn, pid)
            buddy = await read_buddy(conn, pid)
            checkins = [c for c, _ in await db_checkins.list_checkins(conn, pid)]
            changes = await db_checkins.comfort_changes(conn, pid)
        return ProfileExport(
            profile=msgspec.structs.replace(
                with_feed(settings, *found, token), comfort_changes=changes
            ),
            hidden_events=hidden,
            matches=matches,
            idempotency_records=idempotency,
            buddy=buddy,
            checkins=checkins,
            comfort_changes=changes,
            exported_at=datetime.now(UTC),
        )

    @post(
        "/feed/rotate",
        status_code=200,
        guards=[me_write_limit],
        responses=problems(*AUTH, 409, 422, 429, post=True),
        summary="A new feed URL; the old one stops working",
    )
    async def rotate_feed(
        self,
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        idempotency_key: IdempotencyKey = None,
    ) -> FeedUrls:
        pid, token = _profile_token(caller)
        assert settings.secret_key is not None
        feed = issue_feed_token(settings.secret_key, token)
        async with pool.acquire() as conn, conn.transaction():
            await replace_feed_token(
                conn, pid, feed_token_hash=feed.hash, feed_token_sealed=feed.sealed
            )
        return feed_urls(settings, feed.token)

    @post(
        "/hidden/{event_id:int}",
        status_code=204,
        guards=[me_write_limit],
        responses=problems(*AUTH, 404, 409, 422, 429, post=True),
        summary="Hide an event from your suggestions (again is fine)",
    )
    async def hide(
        self,
        event_id: EventId,
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
        idempotency_key: IdempotencyKey = None,
    ) -> None:
        await self._change_hidden(event_id, caller, settings, pool, queue, hide=True)

    @delete(
        "/hidden/{event_id:int}",
        status_code=204,
        guards=[me_write_limit],
        responses=problems(*AUTH, 404, 422, 429),
        summary="Show a hidden event again (not hidden is fine)",
    )
    async def unhide(
        self,
        event_id: EventId,
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
    ) -> None:
        await self._change_hidden(event_id, caller, settings, pool, queue, hide=False)

    async def _change_hidden(
        self,
        event_id: int,
        caller: Caller,
        settings: Settings,
        pool: asyncpg.Pool,
        queue: ArqRedis,
        *,
        hide: bool,
    ) -> None:
        pid, _ = _profile_token(caller)
        change = hide_event if hide else unhide_event
        async with pool.acquire() as conn, conn.transaction():
            if not await change(conn, pid, event_id):
                raise NotFound(f"event {event_id} not found")
            outbox_id = await add_outbox(conn, "profile", pid)
        await enqueue_profile(pool, queue, settings, outbox_id, pid)
