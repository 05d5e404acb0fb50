"""/me: a person's own page, signed in with their private key. Suggestions as their feed
shows them, "not for me" with undo, the check-ins and the trusted person (their forms in
checkins.py and buddy.py), the answers to edit, a new calendar link, their data to
download, everything deleted. Every change goes through the JSON API's own handler
(`.fn`), so a page does exactly what the API does, rules and SQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from services.api.me import MeController
from services.api.pages import answers as form
from services.api.pages.checkin_view import checkins_of
from services.api.pages.choices import reach_choices
from services.api.pages.render import local_date, page
from services.api.pages.session import (
    SignedIn,
    cleared_cookie,
    end_session,
    require_signed_in,
    signed_in,
    take_key_once,
)
from services.api.pages.words import (
    ACCESS_WORDS,
    CHECKIN_BUTTONS,
    CHECKIN_SAID,
    CHECKIN_THANKS,
    COMFORT_LEVELS,
    SUPPORT_CHOICES,
    currencies_for,
    language_name,
    zone_names,
)
from services.api.ratelimit import me_write_limit
from shared.db.buddies import read_buddy
from shared.db.events import get_event
from shared.db.feeds import feed_rows
from shared.db.hidden import hidden_events
from shared.http.deps import PoolDep, QueueDep, SettingsDep
from shared.http.problems import NotFound
from shared.models.buddies import Buddy
from shared.models.profiles import ProfileUpdate, ProfileWithFeed
from shared.occurrences import availability_from_wire, feed_window
from shared.settings import Settings
from shared.suggestions import weekly_suggestions

EDIT_READERS = (
    form.read_where,
    form.read_radius,
    form.read_interests,
    form.read_comfort,
    form.read_formats,
    form.read_cost,
    form.read_languages,
    form.read_access,
    form.read_support,
    form.read_times,
    form.read_timezone,
    form.read_pace,
    form.read_calendar,
)


async def profile_of(person: SignedIn, settings: Settings, pool: Any) -> ProfileWithFeed:
    """GET /v1/me's answer for this person."""
    profile: ProfileWithFeed = await MeController.read.fn(
        None, caller=person.caller, settings=settings, pool=pool
    )
    return profile


async def write_limit(request: Request[Any, Any, Any], person: SignedIn) -> None:
    """The rate limit /v1/me writes have, counted in the same bucket (a handler's `.fn`
    skips its guards, so every page that changes something calls this first)."""
    request.state.caller = person.caller
    await me_write_limit(request, request.route_handler)


def calendar_links(profile: ProfileWithFeed) -> dict[str, str]:
    """The add-from-URL links Google, Apple and Outlook document for a subscription."""
    from urllib.parse import quote, urlencode

    # A discreet calendar is named by its label in Outlook too, never "lowkey".
    name = profile.calendar_label if profile.feed_style == "discreet" else "lowkey"
    return {
        "google": "https://calendar.google.com/calendar/r?"
        + urlencode({"cid": profile.webcal_url}),
        "apple": profile.webcal_url,
        "outlook": "https://outlook.live.com/calendar/0/addfromweb?"
        + urlencode({"url": profile.feed_url, "name": name}, quote_via=quote),
        "outlook_work": "https://outlook.office.com/calendar/0/addfromweb?"
        + urlencode({"url": profile.feed_url, "name": name}, quote_via=quote),
    }


def qr_svg(text: str) -> str:
    """The QR code of `text` as inline SVG (segno), labelled for screen readers."""
    import segno

    svg: str = segno.make(text, error="m").svg_inline(
        scale=4, border=2, dark="#1f2a30", light="#ffffff", omitsize=True
    )
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code of your calendar link" ', 1)


class MePages(Controller):
    path = "/me"
    include_in_schema = False

    @get("/")
    async def home(
        self, request: Request[Any, Any, Any], settings: SettingsDep, pool: PoolDep
    ) -> Response[Any]:
        person = await signed_in(request)
        if person is None:
            return Redirect("/me/sign-in", status_code=303)
        return await me_page(request, person, settings, pool)

    @post("/sign-out", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any], settings: SettingsDep) -> Response:
        person = await signed_in(request)
        if person is not None:
            await end_session(request, person)
        return Redirect("/", status_code=303, cookies=[cleared_cookie(settings)])

    @get("/calendar")
    async def calendar(
        self, request: Request[Any, Any, Any], settings: SettingsDep, pool: PoolDep
    ) -> Response[Any]:
        person = await require_signed_in(request)
        profile = await profile_of(person, settings, pool)
        show_key = await take_key_once(request, person)
        return page(
            request,
            "calendar.html",
            {
                "nav": "me",
                "signed_in": True,
                "profile": profile,
                "links": calendar_links(profile),
                "qr": qr_svg(profile.webcal_url),
                "key": person.token if show_key else None,
                "rotated": request.query_params.get("new") == "1",
            },
        )

    @post("/calendar/new", status_code=303)
    async def new_calendar_link(
        self, request: Request[Any, Any, Any], settings: SettingsDep, pool: PoolDep
    ) -> Response[Any]:
        person = await require_signed_in(request)
        await write_limit(request, person)
        await MeController.rotate_feed.fn(
            None, caller=person.caller, settings=settings, pool=pool, idempotency_key=None
        )
        return Redirect("/me/calendar?new=1", status_code=303)

    @post("/hidden/{event_id:int}", status_code=303)
    async def hide(
        self,
        request: Request[Any, Any, Any],
        event_id: FromPath[int],
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
    ) -> Response[Any]:
        return await self._hidden(request, event_id, settings, pool, queue, hide=True)

    @post("/hidden/{event_id:int}/undo", status_code=303)
    async def unhide(
        self,
        request: Request[Any, Any, Any],
        event_id: FromPath[int],
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
    ) -> Response[Any]:
        return await self._hidden(request, event_id, settings, pool, queue, hide=False)

    async def _hidden(
        self,
        request: Request[Any, Any, Any],
        event_id: int,
        settings: Settings,
        pool: Any,
        queue: Any,
        *,
        hide: bool,
    ) -> Response[Any]:
        person = await require_signed_in(request)
        await write_limit(request, person)
        try:
            await MeController._change_hidden(
                cast(MeController, None), event_id, person.caller, settings, pool, queue, hide=hide
            )
        except NotFound:
            return Redirect("/me", status_code=303)
        return Redirect(f"/me?{'hidden' if hide else 'shown'}={event_id}#notice", status_code=303)

    @get("/answers")
    async def answers_page(
        self, request: Request[Any, Any, Any], settings: SettingsDep, pool: PoolDep
    ) -> Response[Any]:
        person = await require_signed_in(request)
        profile = await profile_of(person, settings, pool)
        answers = form.answers_of_profile(profile)
        return await _answers_page(request, answers, profile, pool)

    @post("/answers", status_code=303)
    async def save_answers(
        self,
        request: Request[Any, Any, Any],
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
    ) -> Response[Any]:
        person = await require_signed_in(request)
        answers = form.answers_from_form(await request.form())
        errors: form.Errors = {}
        wire = form.read_all(answers, EDIT_READERS, errors)
        wire["display_name"] = form.first(answers, "display_name") or None
        form.check_fields(wire, errors)
        update = None
        if not errors:
            try:
                update = msgspec.convert(wire, ProfileUpdate)
            except msgspec.ValidationError:
                errors["where"] = form.PROBLEMS["where"]
        if update is None:
            profile = await profile_of(person, settings, pool)
            return await _answers_page(request, answers, profile, pool, errors, status_code=422)
        await write_limit(request, person)
        try:
            # PATCH /v1/me's own handler: the merged profile is checked by ProfileCreate.
            await MeController.update.fn(
                None, data=update, caller=person.caller, settings=settings, pool=pool, queue=queue
            )
        except msgspec.ValidationError as exc:
            message = str(exc)
            field = next((f for w, f in form.FIELD_OF_WIRE.items() if w in message), "where")
            errors[field] = form.PROBLEMS[field]
            profile = await profile_of(person, settings, pool)
            return await _answers_page(request, answers, profile, pool, errors, status_code=422)
        return Redirect("/me?saved=1#notice", status_code=303)

    @get("/export")
    async def export(
        self, request: Request[Any, Any, Any], settings: SettingsDep, pool: PoolDep
    ) -> Response[bytes]:
        person = await require_signed_in(request)
        exported = await MeController.export.fn(
            None, caller=person.caller, settings=settings, pool=pool
        )
        return Response(
            content=msgspec.json.format(msgspec.json.encode(exported), indent=2),
            media_type="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="lowkey-my-data.json"',
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )

    @get("/delete")
    async def delete_page(self, request: Request[Any, Any, Any]) -> Response[Any]:
        await require_signed_in(request)
        return page(request, "delete.html", {"nav": "me", "signed_in": True})

    @post("/delete", status_code=303)
    async def delete(
        self,
        request: Request[Any, Any, Any],
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
    ) -> Response[Any]:
        person = await require_signed_in(request)
        posted = await request.form()
        if posted.get("confirm") != "yes":
            return page(
                request,
                "delete.html",
                {
                    "nav": "me",
                    "signed_in": True,
                    "error": "Tick the box to say you want everything deleted.",
                },
                status_code=422,
            )
        # DELETE /v1/me's own handler: PostgreSQL (sessions cascade) and Redis.
        await MeController.erase.fn(
            None, caller=person.caller, settings=settings, pool=pool, queue=queue
        )
        return Redirect("/me/deleted", status_code=303, cookies=[cleared_cookie(settings)])


async def me_page(
    request: Request[Any, Any, Any],
    person: SignedIn,
    settings: Settings,
    pool: Any,
    *,
    buddy_errors: form.Errors | None = None,
    code: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """/me: the suggestions as the feed shows them, the check-ins open and given, the
    trusted person, and the rest; with the code form's problems when it was refused."""
    profile = await profile_of(person, settings, pool)
    now = datetime.now(UTC)
    window = feed_window(profile.timezone, now)
    async with pool.acquire() as conn:
        rows = await feed_rows(conn, person.profile_id, over_after=window.start)
        hidden = await hidden_events(conn, person.profile_id)
        hidden_titles = {}
        for item in hidden:
            event = await get_event(conn, item.event_id)
            if event is not None:
                hidden_titles[item.event_id] = event.title
        checkins = await checkins_of(conn, person.profile_id, now)
        buddy = await read_buddy(conn, person.profile_id)
    weeks = weekly_suggestions(
        rows,
        timezone=profile.timezone,
        max_events_per_week=profile.max_events_per_week,
        availability=availability_from_wire(msgspec.to_builtins(profile.availability)),
        now=now,
        hidden={h.event_id for h in hidden},
    )
    return page(
        request,
        "me.html",
        {
            "nav": "me",
            "signed_in": True,
            "profile": profile,
            "weeks": weeks,
            "hidden": hidden_titles,
            "notice": _notice(request, hidden_titles, buddy),
            "this_monday": window.start.date(),
            "checkins": checkins,
            "buttons": CHECKIN_BUTTONS,
            "said": CHECKIN_SAID,
            "buddy": buddy,
            "buddy_since": None if buddy is None else local_date(buddy.since, profile.timezone),
            "errors": buddy_errors or {},
            "code": code,
        },
        status_code=status_code,
        headers=headers,
    )


def _notice(
    request: Request[Any, Any, Any], titles: dict[int, str], buddy: Buddy | None
) -> dict[str, Any] | None:
    query = request.query_params
    if query.get("saved") == "1":
        return {"kind": "saved"}
    said = query.get("said", "")
    if said in CHECKIN_THANKS:
        return {"kind": "said", "words": CHECKIN_THANKS[said]}
    if query.get("linked") == "1" and buddy is not None:
        return {"kind": "linked", "name": buddy.display_name}
    if query.get("unlinked") == "1" and buddy is None:
        return {"kind": "unlinked"}
    for kind in ("hidden", "shown"):
        raw = query.get(kind, "")
        if raw.isdigit() and len(raw) < 19:
            return {"kind": kind, "event_id": int(raw), "title": titles.get(int(raw))}
    return None


async def _answers_page(
    request: Request[Any, Any, Any],
    answers: form.Answers,
    profile: ProfileWithFeed,
    pool: Any,
    errors: form.Errors | None = None,
    status_code: int = 200,
) -> Response[str]:
    choices = await reach_choices(pool, answers)
    return page(
        request,
        "answers.html",
        {
            "nav": "me",
            "signed_in": True,
            "answers": answers,
            "errors": errors or {},
            "choices": choices,
            "form": form,
            "comfort_words": COMFORT_LEVELS,
            "access_words": ACCESS_WORDS,
            "support_words": SUPPORT_CHOICES,
            "currencies": currencies_for(choices.currencies if choices else ()),
            "offered_languages": choices.languages,
            "language_name": language_name,
            "zones": zone_names(),
            "times_fit": form.times_fit_grid(profile),
        },
        status_code=status_code,
    )
