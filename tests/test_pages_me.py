"""/me over HTTP: signing in with the private key (a server-side session, rate-limited),
the suggestions as the feed shows them, "not for me" with undo, the answers to edit, a new
calendar link, the data download and deleting everything."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import icalendar
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.api.pages.session import SESSION_COOKIE, SIGN_IN_ATTEMPTS_PER_MINUTE
from shared.settings import Settings
from tests.factories import create_organiser
from tests.test_feed_service import feed_path, match, monday, new_event, new_profile
from tests.test_pages_start import token_of

Client = AsyncTestClient[Any]
FEED_LINK = re.compile(r'id="feed-url" rows="3" readonly spellcheck="false">([^<]+)<')


@pytest.fixture
async def pages(settings: Settings, db_clean: None) -> AsyncIterator[Client]:
    from services.api.app import create_app

    local = msgspec.structs.replace(settings, public_url="http://127.0.0.1:8000")
    async with AsyncTestClient(app=create_app(local), base_url="http://127.0.0.1:8000") as c:
        yield c


async def sign_in(client: Client, key: str) -> Any:
    page = (await client.get("/me/sign-in")).text
    return await client.post(
        "/me/sign-in", data={"key": key, "_csrf_token": token_of(page)}, follow_redirects=False
    )


async def post_form(client: Client, page_path: str, action: str, **fields: Any) -> Any:
    page = (await client.get(page_path)).text
    return await client.post(
        action, data={**fields, "_csrf_token": token_of(page)}, follow_redirects=False
    )


async def test_me_asks_to_sign_in_and_the_key_opens_a_session(
    pages: Client, pool: asyncpg.Pool
) -> None:
    profile = await new_profile(pages)
    redirect = await pages.get("/me", follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"] == "/me/sign-in"
    wrong = await sign_in(pages, "lk_usr_not-a-key")
    assert wrong.status_code == 401 and "That key did not open a page" in wrong.text
    assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")

    right = await sign_in(pages, profile["token"])
    assert right.status_code == 303 and right.headers["location"] == "/me"
    cookie = next(c for c in right.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert profile["token"] not in cookie, "the cookie holds a session id, never the key"
    async with pool.acquire() as conn:
        stored = await conn.fetchrow("SELECT * FROM user_sessions")
    assert profile["token"].encode() not in bytes(stored["token_sealed"])
    me = await pages.get("/me")
    assert me.status_code == 200 and "Hello, Wren Quietwater" in me.text
    assert me.headers["referrer-policy"] == "no-referrer"
    assert profile["token"] not in me.text, "the key is never shown again"

    out = await post_form(pages, "/me", "/me/sign-out")
    assert out.status_code == 303
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM user_sessions") == 0
    assert (await pages.get("/me", follow_redirects=False)).status_code == 303


async def test_cookie_is_secure_off_loopback(settings: Settings, db_clean: None) -> None:
    from services.api.app import create_app

    live = msgspec.structs.replace(settings, public_url="https://lowkey.example")
    async with AsyncTestClient(app=create_app(live), base_url="https://lowkey.example") as c:
        profile = await new_profile(c)
        response = await sign_in(c, profile["token"])
        cookie = next(x for x in response.headers.get_list("set-cookie") if SESSION_COOKIE in x)
        assert "Secure" in cookie


async def test_wrong_keys_at_sign_in_are_rate_limited(pages: Client) -> None:
    profile = await new_profile(pages)
    for _ in range(SIGN_IN_ATTEMPTS_PER_MINUTE):
        assert (await sign_in(pages, "lk_usr_guess")).status_code == 401
    limited = await sign_in(pages, profile["token"])
    assert limited.status_code == 429 and limited.headers["retry-after"]
    assert "Too many tries" in limited.text


async def test_suggestions_are_the_feeds_with_the_weekly_cap_and_hide_with_undo(
    pages: Client, pool: asyncpg.Pool, admin_headers: dict[str, str]
) -> None:
    profile = await new_profile(pages, max_events_per_week=1)
    _, key = await create_organiser(pages, admin_headers)
    week = monday(1)
    best = await new_event(pages, key, week + timedelta(days=1), title="Quiet board games")
    second = await new_event(pages, key, week + timedelta(days=3), title="Library book club")
    later = await new_event(pages, key, monday(2) + timedelta(days=2), title="Gentle walk")
    await match(pool, profile, best, score=0.9)
    await match(pool, profile, second, score=0.7)
    await match(pool, profile, later, score=0.6)
    await sign_in(pages, profile["token"])

    me = (await pages.get("/me")).text
    assert "Quiet board games" in me and "Gentle walk" in me
    assert "Library book club" not in me, "one a week: the second best waits"
    assert "Why: board games · small, structured group, newcomers welcomed · free" in me
    day = week + timedelta(days=1)
    assert f"{day:%A} {day.day} {day:%B %Y}, 19:00 to 21:00" in me

    hidden = await post_form(pages, "/me", f"/me/hidden/{best['id']}")
    assert hidden.status_code == 303
    assert hidden.headers["location"] == f"/me?hidden={best['id']}#notice"
    after = (await pages.get(hidden.headers["location"].split("#")[0])).text
    assert "Quiet board games will not be suggested again." in after
    assert "Library book club" in after, "the freed slot goes to the next best"
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM hidden_events WHERE profile_id = $1", profile["id"]
            )
            == 1
        )
    undo = await post_form(pages, "/me", f"/me/hidden/{best['id']}/undo")
    assert undo.status_code == 303
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM hidden_events") == 0
    assert "Library book club" not in (await pages.get("/me")).text


async def test_answers_are_edited_with_the_apis_rules(pages: Client, pool: asyncpg.Pool) -> None:
    profile = await new_profile(pages)
    await sign_in(pages, profile["token"])
    page = (await pages.get("/me/answers")).text
    assert 'id="radius-other" name="radius_km" value="other" checked' in page  # 7 km
    assert 'value="7"' in page and 'id="comfort-3" name="comfort_level" value="3" checked' in page
    fields = {
        "lat": "52.531",
        "lon": "13.388",
        "radius_km": "10",
        "comfort_level": "2",
        "formats": ["online"],
        "formats_seen": "1",
        "cost": "free",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "max_events_per_week": "2",
        "display_name": "",
    }
    bad = await post_form(pages, "/me/answers", "/me/answers", **{**fields, "lat": "x"})
    assert bad.status_code == 422 and "Enter both coordinates as numbers" in bad.text
    saved = await post_form(pages, "/me/answers", "/me/answers", **fields)
    assert saved.status_code == 303, saved.text
    me = await pages.get("/v1/me", headers={"Authorization": f"Bearer {profile['token']}"})
    body = me.json()
    assert body["radius_km"] == 10 and body["comfort_level"] == 2
    assert body["formats"] == ["online"] and body["max_cost_cents"] == 0
    assert body["display_name"] is None and body["interests"] == {}
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE kind = 'profile' AND subject_id = $1",
                profile["id"],
            )
            == 2
        ), "the change is queued for scoring, as PATCH /v1/me queues it"


async def test_new_calendar_link_stops_the_old_one(
    pages: Client, feed: Client, pool: asyncpg.Pool
) -> None:
    profile = await new_profile(pages)
    await sign_in(pages, profile["token"])
    assert (await feed.get(feed_path(profile))).status_code == 200
    rotated = await post_form(pages, "/me", "/me/calendar/new")
    assert rotated.headers["location"] == "/me/calendar?new=1"
    page = (await pages.get("/me/calendar?new=1")).text
    assert "You have a new calendar link." in page
    new_url = FEED_LINK.search(page).group(1)  # type: ignore[union-attr]
    assert new_url != profile["feed_url"]
    assert (await feed.get(feed_path(profile))).status_code == 404
    fresh = await feed.get(feed_path({"feed_url": new_url}))
    assert fresh.status_code == 200
    icalendar.Calendar.from_ical(fresh.content)


async def test_download_is_the_apis_export(pages: Client) -> None:
    profile = await new_profile(pages)
    await sign_in(pages, profile["token"])
    download = await pages.get("/me/export")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    mine = json.loads(download.content)
    api = (
        await pages.get("/v1/me/export", headers={"Authorization": f"Bearer {profile['token']}"})
    ).json()
    mine.pop("exported_at"), api.pop("exported_at")
    assert mine == api


async def test_delete_asks_first_then_erases_everything(
    pages: Client, feed: Client, pool: asyncpg.Pool
) -> None:
    profile = await new_profile(pages)
    await sign_in(pages, profile["token"])
    confirm = (await pages.get("/me/delete")).text
    assert "It cannot be undone." in confirm and "your private key" in confirm
    unticked = await post_form(pages, "/me/delete", "/me/delete")
    assert unticked.status_code == 422
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM profiles") == 1
    gone = await post_form(pages, "/me/delete", "/me/delete", confirm="yes")
    assert gone.status_code == 303 and gone.headers["location"] == "/me/deleted"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM profiles") == 0
        assert await conn.fetchval("SELECT count(*) FROM user_sessions") == 0
    assert (await feed.get(feed_path(profile))).status_code == 404
    assert (await sign_in(pages, profile["token"])).status_code == 401


async def test_no_key_or_feed_token_reaches_a_log_line(
    pages: Client, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from tests.test_pages_start import sign_up

    caplog.set_level(logging.DEBUG)
    done = await sign_up(pages)
    assert done.status_code == 303
    calendar = (await pages.get("/me/calendar")).text
    key = re.search(r'id="private-key">(lk_usr_[^<]+)<', calendar).group(1)  # type: ignore[union-attr]
    feed_token = FEED_LINK.search(calendar).group(1).rsplit("/", 1)[1].removesuffix(".ics")  # type: ignore[union-attr]
    await post_form(pages, "/me", "/me/sign-out")
    await sign_in(pages, "lk_usr_wrong")
    await sign_in(pages, key)
    await post_form(pages, "/me", "/me/calendar/new")
    logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "request" in logged, "the request log did run"
    assert key not in logged and feed_token not in logged
