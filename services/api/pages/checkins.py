"""`/me/checkin/{event_id}`: the three answers about an event's latest ended occurrence
(the link every standard feed entry ends with), and the answers /me's forms post. Every
answer goes through POST /v1/me/checkins' own handler (`.fn`): its rules, its SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from services.api.checkins import CheckinsController
from services.api.pages.checkin_view import OpenCheckin, open_checkins
from services.api.pages.me import write_limit
from services.api.pages.render import page
from services.api.pages.session import SignedIn, require_signed_in
from services.api.pages.words import CHECKIN_BUTTONS, CHECKIN_SAID, CHECKIN_THANKS
from shared.db.events import get_event
from shared.http.deps import PoolDep, QueueDep, SettingsDep
from shared.http.problems import Invalid
from shared.models.checkins import CheckinCreate

TEMPLATE = "checkin.html"
LARGEST_ID = 2**63 - 1
# Refusals said in plain words; nothing was saved when either is shown.
NO_ANSWER = "Choose one of the three answers."
NOT_OPEN = (
    "That one can no longer be answered: check-ins stay open for 14 days after an event "
    "from your suggestions."
)


async def _checkin_page(
    request: Request[Any, Any, Any],
    person: SignedIn,
    event_id: int,
    pool: Any,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response[str]:
    """The event's latest ended occurrence that may be answered, or why there is none."""
    event, found = None, []
    if 1 <= event_id <= LARGEST_ID:
        async with pool.acquire() as conn:
            event = await get_event(conn, event_id)
            found = await open_checkins(conn, person.profile_id, datetime.now(UTC), event_id)
    if event is None and not found:
        return page(request, "not_found.html", {"nav": "me", "signed_in": True}, status_code=404)
    latest: OpenCheckin | None = found[0] if found else None
    said = request.query_params.get("said", "")
    return page(
        request,
        TEMPLATE,
        {
            "nav": "me",
            "signed_in": True,
            "event_id": event_id,
            "title": latest.title if latest else event.title if event else "",
            "open": latest,
            "buttons": CHECKIN_BUTTONS,
            "said": CHECKIN_SAID,
            "thanks": CHECKIN_THANKS.get(said) if latest and latest.answer == said else None,
            "error": error,
        },
        status_code=status_code,
    )


class CheckinPages(Controller):
    path = "/me/checkin"
    include_in_schema = False

    @get("/{event_id:int}")
    async def checkin(
        self, request: Request[Any, Any, Any], event_id: FromPath[int], pool: PoolDep
    ) -> Response[str]:
        person = await require_signed_in(request)
        return await _checkin_page(request, person, event_id, pool)

    @post("/{event_id:int}", status_code=303)
    async def answer(
        self,
        request: Request[Any, Any, Any],
        event_id: FromPath[int],
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
    ) -> Response[Any]:
        person = await require_signed_in(request)
        posted = await request.form()
        wire = {
            "event_id": event_id,
            "occurrence": str(posted.get("occurrence", "")),
            "answer": str(posted.get("answer", "")),
        }
        from_me = posted.get("from") == "me"
        try:
            data = msgspec.convert(wire, CheckinCreate)
        except msgspec.ValidationError:
            return await _checkin_page(
                request, person, event_id, pool, error=NO_ANSWER, status_code=422
            )
        await write_limit(request, person)
        try:
            # POST /v1/me/checkins' own handler: the occurrence rules, the record, the steps.
            await CheckinsController.answer.fn(
                None,
                data=data,
                caller=person.caller,
                settings=settings,
                pool=pool,
                queue=queue,
                idempotency_key=None,
            )
        except Invalid:
            return await _checkin_page(
                request, person, event_id, pool, error=NOT_OPEN, status_code=422
            )
        if from_me:
            return Redirect(f"/me?said={data.answer}#notice", status_code=303)
        return Redirect(f"/me/checkin/{event_id}?said={data.answer}#notice", status_code=303)
