"""/me/sign-in: signing in with the private key, then on to the /me page asked for; and
the page that says everything was deleted.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect

from services.api.pages.render import page
from services.api.pages.session import (
    HOME_PATH,
    next_page,
    profile_for_key,
    signed_in,
    start_session,
)
from shared.http.problems import TooManyRequests
from shared.tokens import PROFILE_TOKEN_PREFIX


def _sign_in_page(
    request: Request[Any, Any, Any],
    back_to: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    context = {"nav": "me", "error": error, "next": None if back_to == HOME_PATH else back_to}
    return page(request, "sign_in.html", context, status_code=status_code, headers=headers)


class SignInPages(Controller):
    path = "/me"
    include_in_schema = False

    @get("/sign-in")
    async def sign_in_page(self, request: Request[Any, Any, Any]) -> Response[Any]:
        back_to = next_page(request.query_params.get("next"))
        if await signed_in(request) is not None:
            return Redirect(back_to, status_code=303)
        return _sign_in_page(request, back_to)

    @post("/sign-in", status_code=303)
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        posted = await request.form()
        key = str(posted.get("key", ""))
        back_to = next_page(posted.get("next"))
        try:
            profile_id = await profile_for_key(request, key)
        except TooManyRequests as exc:
            return _sign_in_page(
                request,
                back_to,
                error="Too many tries from here just now. Please wait a minute and try again.",
                status_code=429,
                headers=exc.headers,
            )
        if profile_id is None:
            return _sign_in_page(
                request,
                back_to,
                error="That key did not open a page. Check it and try again: "
                f"it starts with {PROFILE_TOKEN_PREFIX}.",
                status_code=401,
            )
        cookie = await start_session(request, profile_id, key.strip())
        return Redirect(back_to, status_code=303, cookies=[cookie])

    @get("/deleted")
    async def deleted(self, request: Request[Any, Any, Any]) -> Response[str]:
        return page(request, "deleted.html", {"nav": "home"})
