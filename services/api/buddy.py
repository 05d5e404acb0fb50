"""/v1/me/buddy…: invite one trusted person with a code, redeem someone's code, see and
end the link. What linking shows each of them (the suggestions both have) is decided where
matches are read; this controller only makes and ends links.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Controller, delete, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from services.api.auth import CallerDep, profile_only
from services.api.client_address import client_address
from services.api.ratelimit import hit, me_write_limit
from services.api.responses import NO_STORE, IdempotencyKey, problems
from shared.crypto import token_hash
from shared.db import buddies
from shared.http.deps import PoolDep, SettingsDep
from shared.http.problems import Conflict, Invalid, NotFound
from shared.models.buddies import (
    CODE_ALPHABET,
    CODE_LENGTH,
    Buddy,
    BuddyInvite,
    BuddyRedeem,
    grouped,
    normalise_code,
)
from shared.settings import Settings

INVITE_LIFETIME = timedelta(days=7)
CODE_PURPOSE = "buddy-invite"
# Redeeming is guessing-proof by numbers (≈59 bits against these rates), and the limits
# keep it so: per user, per client address, and for the whole service, each per minute.
REDEEMS_PER_PROFILE = 10
REDEEMS_PER_ADDRESS = 30
REDEEMS_OVERALL = 600
REDEEM_BUCKET = "buddy-redeem"  # per profile: erased with it (ratelimit.ME_BUCKETS)
# One answer for every code that cannot be used, so a refusal tells nothing about why.
UNUSABLE = (
    "is not a code you can use: check it with the person who gave it to you (a code works "
    "once, within 7 days, and not for its own maker or someone already linked)"
)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(settings: Settings, code: str) -> bytes:
    assert settings.secret_key is not None
    return token_hash(settings.secret_key, normalise_code(code), purpose=CODE_PURPOSE)


async def redeem_limit(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: every redeem attempt counts per profile, per address and overall."""
    state = connection.app.state
    settings: Settings = state.settings
    caller = connection.state.get("caller")
    if caller is not None and caller.id is not None:
        await hit(state.queue, settings, REDEEM_BUCKET, f"profile:{caller.id}", REDEEMS_PER_PROFILE)
    address = client_address(connection.scope, settings.trusted_proxies)
    await hit(state.queue, settings, "buddy-redeem-address", address, REDEEMS_PER_ADDRESS)
    await hit(state.queue, settings, "buddy-redeem-all", "all", REDEEMS_OVERALL)


class BuddyController(Controller):
    path = "/v1/me/buddy"
    tags = ["me"]
    guards = [profile_only]

    @post(
        "/invite",
        status_code=201,
        guards=[me_write_limit],
        cache_control=NO_STORE,
        responses=problems(401, 403, 409, 429, post=True),
        summary="A code to give one trusted person (replaces your last invite)",
    )
    async def invite(
        self,
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        idempotency_key: IdempotencyKey = None,
    ) -> BuddyInvite:
        assert caller.id is not None
        code = new_code()
        expires_at = datetime.now(UTC) + INVITE_LIFETIME
        async with pool.acquire() as conn, conn.transaction():
            await buddies.lock_profiles(conn, [caller.id])
            if await buddies.buddy_of(conn, caller.id) is not None:
                raise Conflict("you are already linked with someone: unlink first")
            await buddies.replace_invite(conn, caller.id, code_hash(settings, code), expires_at)
        return BuddyInvite(code=grouped(code), expires_at=expires_at)

    @post(
        "/",
        status_code=200,
        guards=[me_write_limit, redeem_limit],
        responses=problems(400, 401, 403, 409, 413, 422, 429, post=True),
        summary="Link with the person whose code this is",
    )
    async def redeem(
        self,
        data: JSONBody[BuddyRedeem],
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Buddy:
        me = caller.id
        assert me is not None
        digest = code_hash(settings, data.code)
        async with pool.acquire() as conn, conn.transaction():
            invite = await buddies.find_invite(conn, digest)
            owner = None if invite is None else invite[0]
            await buddies.lock_profiles(conn, [me] if owner is None else [me, owner])
            if await buddies.buddy_of(conn, me) is not None:
                raise Conflict("you are already linked with someone: unlink first")
            # Looked up again under the locks: a redeem that just committed voided it.
            invite = await buddies.find_invite(conn, digest)
            if (
                invite is None
                or invite[0] == me
                or invite[1] <= datetime.now(UTC)
                or await buddies.buddy_of(conn, invite[0]) is not None
            ):
                raise Invalid.field("code", UNUSABLE)
            await buddies.link(conn, me, invite[0])
            linked = await buddies.read_buddy(conn, me)
        assert linked is not None
        return linked

    @get("/", responses=problems(401, 403, 404), summary="Your trusted person, if linked")
    async def read(self, caller: CallerDep, pool: PoolDep) -> Buddy:
        assert caller.id is not None
        async with pool.acquire() as conn:
            found = await buddies.read_buddy(conn, caller.id)
        if found is None:
            raise NotFound("you are not linked with anyone")
        return found

    @delete(
        "/",
        status_code=204,
        guards=[me_write_limit],
        responses=problems(401, 403, 429),
        summary="Unlink, for both of you (not linked is fine)",
    )
    async def unlink(self, caller: CallerDep, pool: PoolDep) -> None:
        assert caller.id is not None
        async with pool.acquire() as conn, conn.transaction():
            buddy = await buddies.buddy_of(conn, caller.id)
            await buddies.lock_profiles(conn, [caller.id] if buddy is None else [caller.id, buddy])
            await buddies.unlink(conn, caller.id)
