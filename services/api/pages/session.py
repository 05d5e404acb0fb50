"""Signing in to /me with the private key: a session kept in PostgreSQL (user_sessions), a
cookie holding only a random id (HttpOnly, SameSite=Lax, Secure except on plain-http
loopback), the CSRF check every page form passes, and the rate limit on sign-in attempts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie
from litestar.middleware.csrf import CSRFMiddleware
from litestar.response import Redirect
from litestar.types import ASGIApp, Receive, Scope, Send

from services.api.auth import Caller
from services.api.client_address import client_address
from services.api.console.session import cookies_secure
from services.api.ratelimit import hit
from shared.crypto import SealError, new_token, seal, token_hash, unseal
from shared.db.profiles import profile_id_by_token_hash
from shared.db.user_sessions import (
    create_session,
    delete_expired_sessions,
    delete_session,
    live_session,
    take_pending_key,
)
from shared.settings import Settings
from shared.tokens import profile_token_hash

SESSION_COOKIE = "lowkey_me"
CSRF_COOKIE = "lowkey_page_csrf"
SESSION_DAYS = 30
# Sign-in attempts per client address per minute: plenty for a person, useless for guessing
# a 192-bit key, and a brake on anyone trying.
SIGN_IN_ATTEMPTS_PER_MINUTE = 10
SIGN_IN_PATH = "/me/sign-in"
HOME_PATH = "/me"
# Where signing in may lead back to: a page under /me, nothing else (never another site).
NEXT_PAGE = re.compile(r"/me(/[a-z0-9-]{1,40}){0,3}")


class SignInNeeded(Exception):
    """The page needs a signed-in person: send the browser to the sign-in page."""


@dataclass(frozen=True)
class SignedIn:
    """The person behind this request's session, with their profile token for the request."""

    profile_id: int
    token: str
    id_hash: bytes
    key_pending: bool

    @property
    def caller(self) -> Caller:
        """What the JSON API's /v1/me handlers know their caller as."""
        return Caller("profile", self.profile_id, self.token)


def _id_hash(settings: Settings, session_id: str) -> bytes:
    assert settings.secret_key is not None
    return token_hash(settings.secret_key, session_id, purpose="user-session")


def _seal_token(settings: Settings, session_id: str, token: str) -> bytes:
    assert settings.secret_key is not None
    return seal(token.encode(), settings.secret_key, session_id, purpose="user-session-token")


def session_cookie(settings: Settings, value: str, *, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=cookies_secure(settings),
    )


def cleared_cookie(settings: Settings) -> Cookie:
    return session_cookie(settings, "", max_age=0)


async def start_session(
    request: Request[Any, Any, Any], profile_id: int, token: str, *, key_pending: bool = False
) -> Cookie:
    """A new session for this profile; returns the cookie the response must set."""
    settings: Settings = request.app.state.settings
    session_id = new_token()
    expires = datetime.now(UTC) + timedelta(days=SESSION_DAYS)
    async with request.app.state.pool.acquire() as conn:
        await delete_expired_sessions(conn)
        await create_session(
            conn,
            _id_hash(settings, session_id),
            profile_id,
            _seal_token(settings, session_id, token),
            expires_at=expires,
            key_pending=key_pending,
        )
    return session_cookie(settings, session_id, max_age=SESSION_DAYS * 86400)


async def signed_in(request: Request[Any, Any, Any]) -> SignedIn | None:
    """This request's person, or None (no cookie, an ended or expired session, an erased
    profile). Looked up once per request."""
    cached = request.state.get("signed_in", False)
    if cached is not False:
        return cached
    found: SignedIn | None = None
    session_id = request.cookies.get(SESSION_COOKIE)
    settings: Settings = request.app.state.settings
    if session_id and settings.secret_key:
        id_hash = _id_hash(settings, session_id)
        async with request.app.state.pool.acquire() as conn:
            live = await live_session(conn, id_hash)
        if live is not None:
            try:
                token = unseal(
                    live.token_sealed,
                    settings.secret_key,
                    session_id,
                    purpose="user-session-token",
                ).decode()
            except SealError:
                token = None
            if token is not None:
                found = SignedIn(live.profile_id, token, id_hash, live.key_pending)
    request.state.signed_in = found
    return found


async def require_signed_in(request: Request[Any, Any, Any]) -> SignedIn:
    person = await signed_in(request)
    if person is None:
        raise SignInNeeded()
    return person


async def take_key_once(request: Request[Any, Any, Any], person: SignedIn) -> bool:
    """True the first time only: the sign-up's calendar page may show the key now."""
    if not person.key_pending:
        return False
    async with request.app.state.pool.acquire() as conn:
        return await take_pending_key(conn, person.id_hash)


async def end_session(request: Request[Any, Any, Any], person: SignedIn) -> None:
    async with request.app.state.pool.acquire() as conn:
        await delete_session(conn, person.id_hash)


async def profile_for_key(request: Request[Any, Any, Any], key: str) -> int | None:
    """The profile a private key opens (the lookup the JSON API's Bearer auth makes), after
    counting the attempt against this address (TooManyRequests past the limit)."""
    settings: Settings = request.app.state.settings
    address = client_address(request.scope, settings.trusted_proxies)
    await hit(
        request.app.state.queue, settings, "page-sign-in", address, SIGN_IN_ATTEMPTS_PER_MINUTE
    )
    key = key.strip()
    if not key or settings.secret_key is None:
        return None
    async with request.app.state.pool.acquire() as conn:
        return await profile_id_by_token_hash(conn, profile_token_hash(settings.secret_key, key))


def next_page(value: object) -> str:
    """Where to go once signed in: `value` when it is a page under /me, else /me."""
    return value if isinstance(value, str) and NEXT_PAGE.fullmatch(value) else HOME_PATH


def sign_in_path(back_to: str) -> str:
    """The sign-in page, leading back to `back_to` when that is a page under /me."""
    back_to = next_page(back_to)
    if back_to == HOME_PATH:
        return SIGN_IN_PATH
    return f"{SIGN_IN_PATH}?{urlencode({'next': back_to})}"


def to_sign_in(request: Request[Any, Any, Any], _: SignInNeeded) -> Response[Any]:
    # A page asked for (GET) is where signing in leads back to; a form's target is not.
    target = sign_in_path(request.url.path) if request.method == "GET" else SIGN_IN_PATH
    if request.headers.get("hx-request"):
        return Response(content=None, status_code=200, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


def csrf_middleware(app: ASGIApp) -> ASGIApp:
    """Litestar's CSRF check (double-submit, the token in every form), configured from the
    app's settings when the first request arrives: `PAGES` is one router for every app."""
    built: list[CSRFMiddleware] = []

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if not built:
            settings: Settings = scope["litestar_app"].state.settings
            assert settings.secret_key is not None
            secret = token_hash(settings.secret_key, "csrf", purpose="pages").hex()
            config = CSRFConfig(
                secret=secret,
                cookie_name=CSRF_COOKIE,
                cookie_path="/",
                cookie_secure=cookies_secure(settings),
                cookie_httponly=True,
                cookie_samesite="lax",
                header_name="x-csrftoken",
            )
            built.append(CSRFMiddleware(app, config=config))
        await built[0](scope, receive, send)

    return middleware
