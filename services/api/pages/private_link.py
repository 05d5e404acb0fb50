"""`/e/{event_id}`: the private link a discreet calendar carries (SPEC "Discreet
calendars"). Signed out, it shows a sign-in page that names nothing (not the event, not
lowkey); signed in, it leads to the event's page.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from services.api.pages.render import page
from services.api.pages.session import profile_for_key, signed_in, start_session
from shared.http.problems import TooManyRequests

EVENT_ID = re.compile(r"[1-9][0-9]{0,17}")
TEMPLATE = "private_link.html"


def _neutral(
    request: Request[Any, Any, Any],
    ref: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """The same page whatever `ref` is: it may not tell whether such an event exists."""
    return page(
        request,
        TEMPLATE,
        {"action": f"/e/{ref}" if EVENT_ID.fullmatch(ref) else None, "error": error},
        status_code=status_code,
        headers=headers,
    )


class PrivateLinkPages(Controller):
    path = "/e"
    include_in_schema = False

    @get("/{ref:str}")
    async def open_link(self, request: Request[Any, Any, Any], ref: FromPath[str]) -> Response[Any]:
        if await signed_in(request) is not None and EVENT_ID.fullmatch(ref):
            return Redirect(f"/events/{ref}", status_code=303)
        return _neutral(request, ref)

    @post("/{ref:str}", status_code=303)
    async def sign_in(self, request: Request[Any, Any, Any], ref: FromPath[str]) -> Response[Any]:
        if not EVENT_ID.fullmatch(ref):
            return _neutral(request, ref, status_code=404)
        key = str((await request.form()).get("key", ""))
        try:
            profile_id = await profile_for_key(request, key)
        except TooManyRequests as exc:
            return _neutral(
                request,
                ref,
                error="Too many tries from here just now. Please wait a minute and try again.",
                status_code=429,
                headers=exc.headers,
            )
        if profile_id is None:
            return _neutral(
                request,
                ref,
                error="That key did not work. Check it and try again.",
                status_code=401,
            )
        cookie = await start_session(request, profile_id, key.strip())
        return Redirect(f"/events/{ref}", status_code=303, cookies=[cookie])
