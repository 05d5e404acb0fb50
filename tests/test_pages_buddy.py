"""A trusted person on /me over HTTP: an invite whose code is shown once with what linking
shows, a code entered to link (problems next to the field and summed up at the top), who
you are linked with and since when, and unlinking after a confirmation. Each goes through
/v1/me/buddy's own handler, its rate limits included."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.api.buddy import REDEEMS_PER_PROFILE
from services.api.pages.buddy import NO_CODE, NOT_A_CODE, TOO_MANY, UNUSABLE
from shared.models.buddies import WHAT_LINKING_SHOWS
from shared.settings import Settings
from tests.factories import bearer
from tests.test_feed_service import new_profile
from tests.test_pages_me import post_form, sign_in

Client = AsyncTestClient[Any]
BERLIN = ZoneInfo("Europe/Berlin")  # the profiles' zone (tests.test_feed_service)
CODE = re.compile(r'<code class="secret" id="invite-code">([A-Z0-9-]+)</code>')


async def app_client(settings: Settings) -> AsyncTestClient[Any]:
    from services.api.app import create_app

    local = msgspec.structs.replace(settings, public_url="http://127.0.0.1:8000")
    return AsyncTestClient(app=create_app(local), base_url="http://127.0.0.1:8000")


@pytest.fixture
async def pages(settings: Settings, db_clean: None) -> AsyncIterator[Client]:
    async with await app_client(settings) as c:
        yield c


@pytest.fixture
async def friend(settings: Settings, db_clean: None) -> AsyncIterator[Client]:
    """A second browser: its own cookies, its own session."""
    async with await app_client(settings) as c:
        yield c


def unescaped(html: str) -> str:
    return html.replace("&#39;", "'").replace("&#34;", '"').replace("&quot;", '"')


def flat(html: str) -> str:
    """The page's text with every run of whitespace one space."""
    return " ".join(unescaped(html).split())


async def invite(client: Client) -> tuple[Any, str]:
    made = await post_form(client, "/me", "/me/buddy/invite")
    assert made.status_code == 200, made.text
    found = CODE.search(made.text)
    assert found, "the code is on the page"
    return made, found.group(1)


def field_problem(html: str) -> str | None:
    found = re.search(r'<p class="field-error" id="err-buddy_code">([^<]+)</p>', html)
    return None if found is None else unescaped(found.group(1))


async def test_an_invite_shows_its_code_once_with_what_linking_shows(
    pages: Client, pool: asyncpg.Pool
) -> None:
    wren = await new_profile(pages)
    await sign_in(pages, wren["token"])
    me = (await pages.get("/me")).text
    assert "Make an invite code" in me and 'id="buddy_code"' in me

    made, code = await invite(pages)
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", code)
    assert unescaped(WHAT_LINKING_SHOWS) in unescaped(made.text)
    assert made.headers["cache-control"] == "no-store"
    expires = datetime.now(BERLIN) + timedelta(days=7)
    assert f"It works until {expires:%A} {expires.day} {expires:%B %Y}." in flat(made.text)
    stored = await pool.fetchrow("SELECT * FROM buddy_invites WHERE profile_id = $1", wren["id"])
    assert code.replace("-", "").encode() not in bytes(stored["code_hash"])
    assert code not in (await pages.get("/me")).text, "shown once"

    # A new invite replaces the last: the old code no longer links.
    _, newer = await invite(pages)
    assert newer != code
    assert await pool.fetchval("SELECT count(*) FROM buddy_invites") == 1


async def test_a_code_links_both_and_each_sees_who_and_since_when(
    pages: Client, friend: Client, pool: asyncpg.Pool
) -> None:
    wren = await new_profile(pages)
    robin = await new_profile(friend, display_name="Robin")
    await sign_in(pages, wren["token"])
    await sign_in(friend, robin["token"])
    _, code = await invite(pages)

    # Read out and typed in: lower case, spaces for dashes.
    typed = code.lower().replace("-", " ")
    linked = await post_form(friend, "/me", "/me/buddy", code=typed)
    assert linked.status_code == 303 and linked.headers["location"] == "/me?linked=1#notice"
    robins = flat((await friend.get("/me?linked=1")).text)
    today = datetime.now(BERLIN)
    assert "You are now linked with Wren Quietwater." in robins
    since = f"{today:%A} {today.day} {today:%B %Y}"
    assert f"You are linked with <strong>Wren Quietwater</strong> since {since}." in robins
    assert "Make an invite code" not in robins and 'id="buddy_code"' not in robins
    wrens = (await pages.get("/me")).text
    assert "You are linked with <strong>Robin</strong>" in wrens
    api = (await pages.get("/v1/me/buddy", headers=bearer(wren["token"]))).json()
    assert api["display_name"] == "Robin"
    assert await pool.fetchval("SELECT count(*) FROM buddy_invites") == 0, "invites void"


async def test_code_problems_are_said_next_to_the_field_and_at_the_top(
    pages: Client, friend: Client, pool: asyncpg.Pool
) -> None:
    wren = await new_profile(pages)
    robin = await new_profile(friend, display_name="Robin")
    await sign_in(pages, wren["token"])
    await sign_in(friend, robin["token"])
    _, own = await invite(pages)

    for typed, problem in (
        ("", NO_CODE),
        ("hello there", NOT_A_CODE),
        ("0000-1111-OOOO", NOT_A_CODE),
        ("KQ7M-4XTR-9PWD", UNUSABLE),  # no such invite
        (own, UNUSABLE),  # one's own
    ):
        refused = await post_form(pages, "/me", "/me/buddy", code=typed)
        assert refused.status_code == 422, (typed, refused.status_code)
        html = refused.text
        assert field_problem(html) == problem, typed
        top = html.index('class="error-summary"')
        summary = html[top : html.index("</div>", top)]
        assert 'href="#buddy_code"' in summary and "The code from your trusted person" in summary
        assert top < html.index('id="suggestions-title"'), "summed up at the top"
        assert 'aria-invalid="true"' in html
        assert 'aria-describedby="err-buddy_code buddy-code-hint"' in html
        assert f'name="code" value="{typed}"' in html, "what was typed stays"
        assert "<title>Please check: Your page" in html
    assert await pool.fetchval("SELECT count(*) FROM buddies") == 0

    # Used once, a code is spent: a third person gets the same plain refusal.
    assert (await post_form(friend, "/me", "/me/buddy", code=own)).status_code == 303
    async with await app_client(friend.app.state.settings) as third:
        ash = await new_profile(third, display_name="Ash")
        await sign_in(third, ash["token"])
        spent = await post_form(third, "/me", "/me/buddy", code=own)
        assert spent.status_code == 422 and field_problem(spent.text) == UNUSABLE


async def test_entering_codes_is_rate_limited_as_the_api_is(pages: Client) -> None:
    wren = await new_profile(pages)
    await sign_in(pages, wren["token"])
    for _ in range(REDEEMS_PER_PROFILE):
        tried = await post_form(pages, "/me", "/me/buddy", code="KQ7M-4XTR-9PWD")
        assert tried.status_code == 422
    limited = await post_form(pages, "/me", "/me/buddy", code="KQ7M-4XTR-9PWD")
    assert limited.status_code == 429 and limited.headers["retry-after"]
    assert field_problem(limited.text) == TOO_MANY


async def test_unlinking_asks_first_then_ends_the_link_for_both(
    pages: Client, friend: Client, pool: asyncpg.Pool
) -> None:
    wren = await new_profile(pages)
    robin = await new_profile(friend, display_name="Robin")
    await sign_in(pages, wren["token"])
    await sign_in(friend, robin["token"])
    _, code = await invite(pages)
    assert (await post_form(friend, "/me", "/me/buddy", code=code)).status_code == 303

    confirm = (await pages.get("/me/buddy/unlink")).text
    assert "Unlink from Robin?" in confirm and "Keep the link" in confirm
    not_confirmed = await post_form(pages, "/me/buddy/unlink", "/me/buddy/unlink")
    assert not_confirmed.status_code == 303
    assert not_confirmed.headers["location"] == "/me/buddy/unlink"
    assert await pool.fetchval("SELECT count(*) FROM buddies") == 2

    done = await post_form(pages, "/me/buddy/unlink", "/me/buddy/unlink", confirm="yes")
    assert done.status_code == 303 and done.headers["location"] == "/me?unlinked=1#notice"
    assert await pool.fetchval("SELECT count(*) FROM buddies") == 0
    assert "You are no longer linked." in (await pages.get("/me?unlinked=1")).text
    assert "Make an invite code" in (await friend.get("/me")).text
    # Nothing to unlink any more: the confirmation leads back to /me.
    back = await pages.get("/me/buddy/unlink", follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == "/me#buddy"


async def test_buddy_forms_need_a_session_and_a_valid_csrf_token(
    pages: Client, pool: asyncpg.Pool
) -> None:
    wren = await new_profile(pages)
    signed_out = await pages.get("/me/buddy/unlink", follow_redirects=False)
    assert signed_out.headers["location"] == "/me/sign-in?next=%2Fme%2Fbuddy%2Funlink"
    await sign_in(pages, wren["token"])
    for action, data in (
        ("/me/buddy/invite", {}),
        ("/me/buddy", {"code": "KQ7M-4XTR-9PWD"}),
        ("/me/buddy/unlink", {"confirm": "yes"}),
    ):
        for token in ({}, {"_csrf_token": "forged"}):
            refused = await pages.post(action, data={**data, **token})
            assert refused.status_code == 403 and "That form had expired" in refused.text
    assert await pool.fetchval("SELECT count(*) FROM buddy_invites") == 0
