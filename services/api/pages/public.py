"""The public pages: the front page, and every event's page with its `.ics` download."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath

from services.api.pages.event_view import event_view, stored_scoring_event
from services.api.pages.render import PAGE_HEADERS, page
from services.api.pages.session import signed_in
from shared.db.events import get_event
from shared.event_ics import event_calendar
from shared.http.deps import PoolDep, SettingsDep

# `301` is the page, `301.ics` the event alone as a calendar file; ids are bigints.
EVENT_REF = re.compile(r"([1-9][0-9]{0,17})(\.ics)?")
ICS_MEDIA_TYPE = "text/calendar"  # Litestar adds "; charset=utf-8" to text types


def not_found(request: Request[Any, Any, Any], **context: Any) -> Response[str]:
    return page(request, "not_found.html", context, status_code=404)


class PublicPages(Controller):
    path = "/"
    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any]) -> Response[str]:
        person = await signed_in(request)
        return page(request, "home.html", {"nav": "home", "signed_in": person is not None})

    @get("/events/{ref:str}")
    async def event(
        self,
        request: Request[Any, Any, Any],
        ref: FromPath[str],
        pool: PoolDep,
        settings: SettingsDep,
    ) -> Response[Any]:
        matched = EVENT_REF.fullmatch(ref)
        if matched is None:
            return not_found(request)
        async with pool.acquire() as conn:
            event = await get_event(conn, int(matched[1]))
        if event is None:
            return not_found(request)
        page_url = f"{settings.public_url}/events/{event.id}"
        if matched[2]:
            body = event_calendar(event, stored_scoring_event(event), page_url=page_url)
            return Response(
                content=body,
                media_type=ICS_MEDIA_TYPE,
                headers={
                    **PAGE_HEADERS,
                    "Content-Disposition": f'attachment; filename="lowkey-event-{event.id}.ics"',
                },
            )
        context = event_view(event, datetime.now(UTC))
        context["signed_in"] = await signed_in(request) is not None
        return page(request, "event.html", context)
