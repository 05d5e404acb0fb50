"""Rendering the pages for people: their own Jinja environment (autoescaped), the CSRF
field every form carries, and the headers every page is sent with.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response
from litestar.utils.scope.state import ScopeState
from markupsafe import Markup

HERE = Path(__file__).parent
HTML = "text/html"  # Litestar adds "; charset=utf-8" to text types
CSRF_FIELD = "_csrf_token"
# Our own scripts, styles and forms only; never framed. No page ever passes its address
# on (pages may carry a feed link or a key), so every page says no-referrer.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def long_date(moment: datetime) -> str:
    """'Tuesday 1 December 2026'."""
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def clock(moment: datetime) -> str:
    return f"{moment:%H:%M}"


def local_date(moment: datetime, timezone: str) -> str:
    """An aware instant as the date it was in `timezone`: 'Tuesday 1 December 2026'."""
    return long_date(moment.astimezone(ZoneInfo(timezone)))


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["long_date"] = long_date
    env.filters["clock"] = clock
    return env


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """The token the CSRF middleware put on this request ('' on routes without it)."""
    token = ScopeState.from_scope(request.scope).csrf_token
    return token if isinstance(token, str) else ""


def page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    token = csrf_token(request)
    csrf_input = Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)
    html = (
        environment()
        .get_template(template)
        .render(request=request, csrf_input=csrf_input, **(context or {}))
    )
    return Response(
        content=html,
        media_type=HTML,
        status_code=status_code,
        headers={**PAGE_HEADERS, **(headers or {})},
    )
