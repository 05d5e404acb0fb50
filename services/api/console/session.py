"""Signing in to the console: the admin key buys an encrypted session cookie (HttpOnly,
SameSite=Strict, Secure off loopback), every form carries a CSRF token, sign-out clears it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from litestar import Controller, Request, Response, get, post
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.base import SessionMiddleware
from litestar.middleware.session.client_side import (
    ClientSideSessionBackend,
    CookieBackendConfig,
)
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template
from litestar.types import ASGIApp

from shared.crypto import constant_time_equals, token_hash
from shared.http.deps import SettingsDep
from shared.settings import Settings

SESSION_COOKIE = "lowkey_admin"
CSRF_COOKIE = "lowkey_csrf"
SESSION_HOURS = 8
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


def admin_fingerprint(settings: Settings) -> str:
    """Stored in the session: a changed admin key ends every session made with the old one."""
    assert settings.admin_key is not None
    return _secret(settings, "admin:" + settings.admin_key).hex()[:32]


def _session_middleware(app: ASGIApp, settings: Settings) -> SessionMiddleware[Any]:
    config = CookieBackendConfig(
        secret=_secret(settings, "session"),
        key=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        path="/admin",
        secure=cookies_secure(settings),
        httponly=True,
        samesite="strict",
    )
    return SessionMiddleware(app, backend=ClientSideSessionBackend(config=config))


def session_middleware(settings: Settings) -> DefineMiddleware:
    # Built when the app starts: Litestar deep-copies routers, and the cookie backend's
    # cipher cannot be copied.
    return DefineMiddleware(_session_middleware, settings=settings)


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


def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for console pages."""
    settings: Settings = connection.app.state.settings
    session = connection.scope.get("session")
    held = session.get("admin", "") if isinstance(session, dict) else ""
    if not settings.admin_key or not constant_time_equals(str(held), admin_fingerprint(settings)):
        raise SignInRequired()


def to_sign_in(request: Request[Any, Any, Any], _: SignInRequired) -> Response[Any]:
    """Plain requests are redirected; htmx requests are told to load the sign-in page."""
    if request.headers.get("hx-request"):
        return Response(content=None, status_code=200, headers={"HX-Redirect": "/admin/login"})
    return Redirect("/admin/login", status_code=303)


LoginForm = URLEncodedBody[dict[str, str]]


class SessionController(Controller):
    path = "/admin"

    @get("/login", sync_to_thread=False)
    def login_page(self) -> Template:
        return Template("login.html", context={"error": None})

    @post("/login", status_code=303, sync_to_thread=False)
    def login(
        self, request: Request[Any, Any, Any], data: LoginForm, settings: SettingsDep
    ) -> Response[Any]:
        key = data.get("admin_key", "")
        if not settings.admin_key or not constant_time_equals(key, settings.admin_key):
            return Template(
                "login.html", context={"error": "That key was refused."}, status_code=401
            )
        request.set_session({"admin": admin_fingerprint(settings)})
        return Redirect("/admin", status_code=303)

    @post("/logout", status_code=303, guards=[signed_in], sync_to_thread=False)
    def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/admin/login", status_code=303)
