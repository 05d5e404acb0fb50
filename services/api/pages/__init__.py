"""The pages for people on the API service (SPEC "Pages for people"): server-rendered,
working without JavaScript, on the same models, SQL and scoring the JSON API uses.

`PAGES` is the one router `services/api/app.py` lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, Router
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.static_files import create_static_files_router

from services.api.pages.buddy import BuddyPages
from services.api.pages.checkins import CheckinPages
from services.api.pages.me import MePages
from services.api.pages.private_link import PrivateLinkPages
from services.api.pages.public import PublicPages
from services.api.pages.render import page
from services.api.pages.session import SignInNeeded, csrf_middleware, to_sign_in
from services.api.pages.sign_in import SignInPages
from services.api.pages.start import StartPages
from shared.http.problems import LowkeyError

HERE = Path(__file__).parent


def _form_refused(request: Request[Any, Any, Any], _: Exception) -> Response[str]:
    """A form without a valid CSRF token: usually one left open too long."""
    return page(
        request,
        "problem.html",
        {
            "heading": "That form had expired",
            "message": "Nothing was changed. Please go back, reload the page and try again.",
        },
        status_code=403,
    )


def _problem(request: Request[Any, Any, Any], exc: LowkeyError) -> Response[str]:
    """A domain error raised under a page (the API's own handlers): said in words."""
    headers = exc.headers or {}
    if exc.status_code == 429:
        heading, message = "Just a moment, please", "Too many changes in a short time. Wait a "
        message += "minute and try again."
    elif exc.status_code == 503:
        heading, message = "Something is busy", "Please try again in a few seconds."
    elif exc.status_code in (401, 403):
        heading, message = "Please sign in again", "Your session has ended."
    else:
        heading, message = "That did not work", "Nothing was changed. Please try again."
    return page(
        request,
        "problem.html",
        {"heading": heading, "message": message},
        status_code=exc.status_code,
        headers={k: v for k, v in headers.items() if k.lower() == "retry-after"},
    )


PEOPLE = Router(
    path="/",
    route_handlers=[
        PublicPages,
        StartPages,
        SignInPages,
        MePages,
        CheckinPages,
        BuddyPages,
        PrivateLinkPages,
    ],
    middleware=[csrf_middleware],
    exception_handlers={
        SignInNeeded: to_sign_in,
        PermissionDeniedException: _form_refused,
        NotAuthorizedException: _form_refused,
        LowkeyError: _problem,
    },
    include_in_schema=False,
)

PAGES = Router(
    path="/",
    route_handlers=[
        PEOPLE,
        create_static_files_router(
            path="/assets",
            directories=[HERE / "static"],
            name="pages-static",
            include_in_schema=False,
        ),
    ],
    include_in_schema=False,
)
