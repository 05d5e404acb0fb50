"""Who is asking: the Bearer key resolved to a `Caller`, and the guards that use it.

The admin key comes from settings; organiser keys and profile tokens are looked up by
their keyed hash. Handlers declare `caller: CallerDep` and a guard on their controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import asyncpg
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler

from shared.crypto import constant_time_equals
from shared.db.organisers import organiser_id_by_key_hash
from shared.db.profiles import profile_id_by_token_hash
from shared.http.problems import Forbidden, Unauthorized
from shared.settings import Settings
from shared.tokens import organiser_key_hash, profile_token_hash

CallerKind = Literal["anonymous", "admin", "organiser", "profile"]


@dataclass(frozen=True)
class Caller:
    kind: CallerKind
    id: int | None = None
    token: str | None = None  # the raw bearer token, kept only for the request

    @property
    def identity(self) -> str:
        """Stable per caller (for idempotency records and rate limits); no secret in it."""
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind


CallerDep: TypeAlias = NamedDependency[Caller]


def _bearer(request: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def resolve_caller(
    request: ASGIConnection[Any, Any, Any, Any], settings: Settings, pool: asyncpg.Pool
) -> Caller:
    """Resolve the Bearer key once per request (cached on the request state)."""
    cached = request.state.get("caller")
    if isinstance(cached, Caller):
        return cached
    token = _bearer(request)
    caller = Caller("anonymous")
    if token is not None:
        assert settings.secret_key is not None
        if settings.admin_key and constant_time_equals(token, settings.admin_key):
            caller = Caller("admin", token=token)
        else:
            async with pool.acquire() as conn:
                organiser = await organiser_id_by_key_hash(
                    conn, organiser_key_hash(settings.secret_key, token)
                )
                profile = None
                if organiser is None:
                    profile = await profile_id_by_token_hash(
                        conn, profile_token_hash(settings.secret_key, token)
                    )
            if organiser is not None:
                caller = Caller("organiser", organiser, token)
            elif profile is not None:
                caller = Caller("profile", profile, token)
            else:
                raise Unauthorized("the Bearer key is not known")
    request.state.caller = caller
    return caller


async def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    app_state = request.app.state
    return await resolve_caller(request, app_state.settings, app_state.pool)


def _guard(*allowed: CallerKind) -> Any:
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        state = connection.app.state
        caller = await resolve_caller(connection, state.settings, state.pool)
        if caller.kind == "anonymous":
            raise Unauthorized()
        if caller.kind not in allowed:
            raise Forbidden(f"this call is not open to a {caller.kind} key")

    return guard


admin_only = _guard("admin")
organiser_only = _guard("organiser")
profile_only = _guard("profile")
