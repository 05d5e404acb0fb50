"""/me/buddy…: a trusted person from the pages: an invite whose code is shown once, a code
entered to link, and unlinking after a confirmation. Each goes through /v1/me/buddy's own
handler (`.fn`), after the same rate limits its guards count.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect

from services.api.buddy import BuddyController, redeem_limit
from services.api.pages.me import me_page, profile_of, write_limit
from services.api.pages.render import local_date, page
from services.api.pages.session import require_signed_in
from shared.db.buddies import read_buddy
from shared.http.deps import PoolDep, SettingsDep
from shared.http.problems import Conflict, Invalid, TooManyRequests
from shared.models.buddies import BuddyRedeem

CODE_FIELD = "buddy_code"
# What the code form says back, next to the field and in the summary at the top.
NO_CODE = "Enter the code you were given."
NOT_A_CODE = (
    "That does not look like an invite code. A code has 12 letters and digits, like KQ7M-4XTR-9PWD."
)
UNUSABLE = (
    "That code did not work. Check it with the person who gave it to you: a code works "
    "once, within 7 days, and not for the person who made it or someone already linked."
)
ALREADY_LINKED = "You are already linked with someone. Unlink first to link with someone else."
TOO_MANY = "Too many tries just now. Please wait a minute and try again."


class BuddyPages(Controller):
    path = "/me/buddy"
    include_in_schema = False

    @post("/invite", status_code=200)
    async def invite(
        self, request: Request[Any, Any, Any], settings: SettingsDep, pool: PoolDep
    ) -> Response[Any]:
        person = await require_signed_in(request)
        await write_limit(request, person)
        try:
            made = await BuddyController.invite.fn(
                None, caller=person.caller, settings=settings, pool=pool, idempotency_key=None
            )
        except Conflict:  # linked meanwhile: /me shows with whom
            return Redirect("/me#buddy", status_code=303)
        profile = await profile_of(person, settings, pool)
        # Shown in this answer only: lowkey keeps nothing but the code's keyed hash.
        return page(
            request,
            "buddy_invite.html",
            {
                "nav": "me",
                "signed_in": True,
                "invite": made,
                "expires": local_date(made.expires_at, profile.timezone),
            },
        )

    @post("/", status_code=303)
    async def link(
        self, request: Request[Any, Any, Any], settings: SettingsDep, pool: PoolDep
    ) -> Response[Any]:
        person = await require_signed_in(request)
        code = str((await request.form()).get("code", "")).strip()[:100]

        async def refused(problem: str, status_code: int, **headers: str) -> Response[str]:
            return await me_page(
                request,
                person,
                settings,
                pool,
                buddy_errors={CODE_FIELD: problem},
                code=code,
                status_code=status_code,
                headers=headers or None,
            )

        if not code:
            return await refused(NO_CODE, 422)
        try:
            # Every code tried counts, as the API's guards count it before reading the body.
            await write_limit(request, person)
            await redeem_limit(request, request.route_handler)
        except TooManyRequests as exc:
            return await refused(TOO_MANY, 429, **(exc.headers or {}))
        try:
            data = msgspec.convert({"code": code}, BuddyRedeem)
        except msgspec.ValidationError:
            return await refused(NOT_A_CODE, 422)
        try:
            await BuddyController.redeem.fn(
                None,
                data=data,
                caller=person.caller,
                settings=settings,
                pool=pool,
                idempotency_key=None,
            )
        except Invalid:
            return await refused(UNUSABLE, 422)
        except Conflict:
            return await refused(ALREADY_LINKED, 409)
        return Redirect("/me?linked=1#notice", status_code=303)

    @get("/unlink")
    async def unlink_page(self, request: Request[Any, Any, Any], pool: PoolDep) -> Response[Any]:
        person = await require_signed_in(request)
        async with pool.acquire() as conn:
            buddy = await read_buddy(conn, person.profile_id)
        if buddy is None:
            return Redirect("/me#buddy", status_code=303)
        return page(request, "buddy_unlink.html", {"nav": "me", "signed_in": True, "buddy": buddy})

    @post("/unlink", status_code=303)
    async def unlink(self, request: Request[Any, Any, Any], pool: PoolDep) -> Response[Any]:
        person = await require_signed_in(request)
        if (await request.form()).get("confirm") != "yes":
            return Redirect("/me/buddy/unlink", status_code=303)
        await write_limit(request, person)
        # DELETE /v1/me/buddy's own handler: both directions, both profiles locked.
        await BuddyController.unlink.fn(None, caller=person.caller, pool=pool)
        return Redirect("/me?unlinked=1#notice", status_code=303)
