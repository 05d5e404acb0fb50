"""Signing in to the console. The admin key buys a session kept in PostgreSQL: the cookie
(HttpOnly, SameSite=Strict, Secure off loopback) holds a random id, the table only its keyed
hash and the admin key's fingerprint, so sign-out and a new LOWKEY_ADMIN_KEY end it.
Sign-in attempts are rate-limited per client address; every form carries a CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlparse

from litestar import Controller, Request, Response, get, post
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from services.api.client_address import client_address
from services.api.ratelimit import hit
from shared.crypto import constant_time_equals, token_hash
from shared.db import console_sessions as db
from shared.http.deps import PoolDep, SettingsDep
from shared.http.problems import TooManyRequests
from shared.settings import Settings

SESSION_COOKIE = "lowkey_admin"
CSRF_COOKIE = "lowkey_csrf"
SESSION_HOURS = 8
SESSION_ID_BYTES = 32
# Sign-in attempts per client address per minute: plenty for a person, useless for guessing.
LOGIN_ATTEMPTS_PER_MINUTE = 10
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class SignInRequired(Exception):
    """No valid console session: send the browser to the sign-in page."""


def cookies_secure(settings: Settings) -> bool:
    """Secure cookies everywhere except a plain-http loopback address (`lowkey up`, tests),
    where a browser would otherwise never send them back."""
    url = urlparse(settings.public_url)
    return not (url.scheme == "http" and url.hostname in LOOPBACK)


def _secret(settings: Settings, purpose: str) -> bytes:
    assert settings.secret_key is not None
    return token_hash(settings.secret_key, purpose, purpose="console")


def admin_fingerprint(settings: Settings) -> bytes:
    """Stored with each session: a changed admin key ends every session made with the old one."""
    assert settings.admin_key is not None and settings.secret_key is not None
    return token_hash(settings.secret_key, settings.admin_key, purpose="console-admin")


def session_id_hash(settings: Settings, session_id: str) -> bytes:
    assert settings.secret_key is not None
    return token_hash(settings.secret_key, session_id, purpose="console-session")


def csrf_middleware(settings: Settings) -> DefineMiddleware:
    config = CSRFConfig(
        secret=_secret(settings, "csrf").hex(),
        cookie_name=CSRF_COOKIE,
        cookie_path="/admin",
        cookie_secure=cookies_secure(settings),
        cookie_httponly=True,  # forms and htmx get the token from the page, not the cookie
        cookie_samesite="strict",
        header_name="x-csrftoken",
    )
    return DefineMiddleware(CSRFMiddleware, config=config)


async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for console pages: a live session made under the current admin key."""
    settings: Settings = connection.app.state.settings
    session_id = connection.cookies.get(SESSION_COOKIE)
    if not settings.admin_key or not session_id:
        raise SignInRequired()
    id_hash = session_id_hash(settings, session_id)
    async with connection.app.state.pool.acquire() as conn:
        held = await db.session_fingerprint(conn, id_hash)
        if held is None:
            raise SignInRequired()
        if not hmac.compare_digest(held, admin_fingerprint(settings)):
            await db.delete_session(conn, id_hash)  # made under an earlier admin key
            raise SignInRequired()


def to_sign_in(request: Request[Any, Any, Any], _: SignInRequired) -> Response[Any]:
    """Plain requests are redirected; htmx requests are told to load the sign-in page."""
    if request.headers.get("hx-request"):
        return Response(content=None, status_code=200, headers={"HX-Redirect": "/admin/login"})
    return Redirect("/admin/login", status_code=303)


def _login_page(error: str | None, status_code: int = 200, **headers: str) -> Template:
    return Template(
        "login.html",
        context={"error": error, "session_hours": SESSION_HOURS},
        status_code=status_code,
        headers=headers,
    )


def _set_session_cookie(
    response: Response[Any], settings: Settings, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        path="/admin",
        secure=cookies_secure(settings),
        httponly=True,
        samesite="strict",
    )


LoginForm = URLEncodedBody[dict[str, str]]


class SessionController(Controller):
    path = "/admin"

    @get("/login", sync_to_thread=False)
    def login_page(self) -> Template:
        return _login_page(None)

    @post("/login", status_code=303)
    async def login(
        self, request: Request[Any, Any, Any], data: LoginForm, settings: SettingsDep, pool: PoolDep
    ) -> Response[Any]:
        # Counted before the key is looked at, so a guesser learns nothing past the limit.
        address = client_address(request.scope, settings.trusted_proxies)
        try:
            await hit(
                request.app.state.queue, settings, "admin-login", address, LOGIN_ATTEMPTS_PER_MINUTE
            )
        except TooManyRequests as exc:
            retry = (exc.headers or {}).get("Retry-After", "60")
            message = f"Too many sign-in attempts from here. Try again in {retry} seconds."
            return _login_page(message, 429, **{"Retry-After": retry})
        key = data.get("admin_key", "")
        if not settings.admin_key or not constant_time_equals(key, settings.admin_key):
            return _login_page("That key was refused.", 401)
        # Always a fresh id: a session id planted before sign-in never becomes signed in.
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        async with pool.acquire() as conn:
            if old := request.cookies.get(SESSION_COOKIE):
                await db.delete_session(conn, session_id_hash(settings, old))
            await db.add_session(
                conn,
                session_id_hash(settings, session_id),
                admin_fingerprint(settings),
                SESSION_HOURS * 3600,
            )
        response = Redirect("/admin", status_code=303)
        _set_session_cookie(response, settings, session_id, max_age=SESSION_HOURS * 3600)
        return response

    @post("/logout", status_code=303)
    async def logout(
        self, request: Request[Any, Any, Any], settings: SettingsDep, pool: PoolDep
    ) -> Redirect:
        """Ends the session on the server (a saved copy of the cookie opens nothing)."""
        if session_id := request.cookies.get(SESSION_COOKIE):
            async with pool.acquire() as conn:
                await db.delete_session(conn, session_id_hash(settings, session_id))
        response = Redirect("/admin/login", status_code=303)
        _set_session_cookie(response, settings, "", max_age=0)
        return response
