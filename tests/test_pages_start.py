"""The sign-up at /start over HTTP: one topic a step, answers carried along, nothing stored
until the last step, the API's own rules and rate limit, the key shown once."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.api.pages.session import CSRF_COOKIE, SESSION_COOKIE
from shared.settings import Settings
from tests.factories import create_organiser, post_event
from tests.fake_geocoder import FakeGeocoder

Client = AsyncTestClient[Any]
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
STEP = re.compile(r'<input type="hidden" name="step" value="([a-z]+)">')

# Every step's answers as the form posts them (a person who answers everything).
ANSWERS: dict[str, dict[str, Any]] = {
    "where": {"lat": "52.52049", "lon": "13.40495"},
    "distance": {"radius_km": "5"},
    "interests": {"tag-board-games": "love", "interests_other": "knitting, chess"},
    "comfort": {"comfort_level": "2", "open_to_stretch": "on", "adapt_comfort": "on"},
    "formats": {"formats": ["in_person"]},
    "cost": {"cost": "upto", "cost_amount": "7.50", "currency": "EUR"},
    "languages": {"languages": ["en"], "languages_other": "de"},
    "access": {"access": ["step_free"]},
    "times": {"slots": ["tue-evening", "sat-afternoon"], "timezone": "Europe/Berlin"},
    "pace": {"max_events_per_week": "2", "display_name": "Robin"},
    "support": {"support": ["companionship", "informational"]},
    "calendar": {"feed_style": "discreet", "calendar_label": "Out and about"},
}


def token_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "every page form carries a CSRF token"
    return found.group(1)


def carried(page: str) -> dict[str, list[str]]:
    """The hidden fields a step page carries (its earlier answers), as a form would post."""
    fields: dict[str, list[str]] = {}
    for name, value in HIDDEN.findall(page):
        if name not in ("_csrf_token", "step"):
            fields.setdefault(name, []).append(html.unescape(value))
    return fields


async def post_step(client: Client, page: str, answers: dict[str, Any], go: str = "next") -> Any:
    step = STEP.search(page)
    assert step, "a step page names its step"
    body: dict[str, Any] = {**carried(page), **answers}
    body.update({"_csrf_token": token_of(page), "step": step.group(1), "go": go})
    return await client.post("/start", data=body, follow_redirects=False)


async def sign_up(client: Client, answers: dict[str, dict[str, Any]] = ANSWERS) -> Any:
    """Walk every step with `answers` (a step missing from them is skipped)."""
    page = (await client.get("/start")).text
    response = None
    for step in ANSWERS:
        assert f'name="step" value="{step}"' in page
        go = "next" if step in answers else "skip"
        response = await post_step(client, page, answers.get(step, {}), go)
        assert response.status_code in (200, 303, 429), response.text
        page = response.text
    return response


@pytest.fixture
async def pages(settings: Settings, db_clean: None) -> AsyncIterator[Client]:
    """The API app at a plain-http loopback address, as `lowkey up` serves it."""
    from services.api.app import create_app

    local = msgspec.structs.replace(settings, public_url="http://127.0.0.1:8000")
    async with AsyncTestClient(app=create_app(local), base_url="http://127.0.0.1:8000") as c:
        yield c


async def test_sign_up_step_by_step_creates_the_profile_the_api_would(
    pages: Client, pool: asyncpg.Pool, admin_headers: dict[str, str]
) -> None:
    _, key = await create_organiser(pages, admin_headers)
    await post_event(pages, key, tags=["board-games", "walking"])
    first = (await pages.get("/start")).text
    assert "Step 1 of 12" in first and "about 100 metres" in first
    where = await post_step(pages, first, ANSWERS["where"])
    assert 'name="radius_km"' in where.text
    assert carried(where.text)["lat"] == ["52.52049"]
    distance = await post_step(pages, where.text, ANSWERS["distance"])
    assert "board games" in distance.text and "walking" in distance.text, "topics in reach"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM profiles") == 0

    done = await sign_up(pages)
    assert done.status_code == 303 and done.headers["location"] == "/me/calendar"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    for flag in ("HttpOnly", "SameSite=lax", "Path=/"):
        assert flag in cookie
    assert "Secure" not in cookie  # plain http on loopback: a browser would drop it
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM profiles")
    assert (row["home_lat"], row["home_lon"]) == (52.52, 13.405)  # rounded on arrival
    assert row["radius_km"] == 5 and row["comfort_level"] == 2 and row["open_to_stretch"]
    assert row["interests"] == {"board-games": 1.0, "knitting": 0.6, "chess": 0.6}
    assert row["formats"] == ["in_person"] and row["languages"] == ["en", "de"]
    assert (row["max_cost_cents"], row["currency"]) == (750, "EUR")
    assert row["accessibility_needs"] == ["step_free"]
    assert row["seeking"] == ["companionship", "informational"] and row["adapt_comfort"] is True
    assert row["availability"] == [
        {"days": ["sat"], "from": "12:00", "to": "17:00"},
        {"days": ["tue"], "from": "17:00", "to": "24:00"},
    ]
    assert row["timezone"] == "Europe/Berlin" and row["max_events_per_week"] == 2
    assert row["display_name"] == "Robin"
    assert (row["feed_style"], row["calendar_label"]) == ("discreet", "Out and about")

    calendar = await pages.get("/me/calendar")
    assert calendar.status_code == 200
    assert calendar.headers["referrer-policy"] == "no-referrer"
    key_shown = re.search(
        r'<code class="secret" id="private-key">(lk_usr_[^<]+)</code>', calendar.text
    )
    assert key_shown, "the private key is shown once"
    me = await pages.get("/v1/me", headers={"Authorization": f"Bearer {key_shown.group(1)}"})
    assert me.status_code == 200
    feed_url = me.json()["feed_url"]
    assert feed_url in calendar.text and me.json()["webcal_url"] in calendar.text
    assert "calendar.google.com/calendar/r?cid=webcal" in calendar.text
    assert "outlook.live.com/calendar/0/addfromweb?url=http" in calendar.text
    assert '<svg role="img" aria-label="QR code of your calendar link"' in calendar.text
    again = await pages.get("/me/calendar")
    assert key_shown.group(1) not in again.text, "and only once"
    assert feed_url in again.text


async def test_every_question_with_a_default_can_be_skipped(
    pages: Client, pool: asyncpg.Pool
) -> None:
    required = {k: ANSWERS[k] for k in ("where", "distance", "comfort")}
    done = await sign_up(pages, required)
    assert done.status_code == 303
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM profiles")
    assert row["interests"] == {} and row["formats"] == ["in_person", "online"]
    assert row["max_cost_cents"] is None and row["languages"] == []
    assert row["availability"] == [] and row["max_events_per_week"] == 3
    assert (row["feed_style"], row["calendar_label"]) == ("standard", "Plans")
    assert row["seeking"] == []  # skipped: nothing sought


@pytest.mark.parametrize(
    ("step", "answers", "problem"),
    [
        ("where", {"lat": "north", "lon": "13.4"}, "Enter both coordinates as numbers"),
        ("where", {"lat": "95", "lon": "13.4"}, "A latitude is between -90 and 90"),
        ("where", {}, "Tell us roughly where you are"),
        ("distance", {"radius_km": "other", "radius_other": "900"}, "between 0.1 and 200 km"),
        (
            "distance",
            {"radius_km": "other", "radius_other": "far"},
            "Enter a distance in kilometres",
        ),
        ("interests", {"interests_other": "??!"}, "Topics are short words"),
        ("comfort", {}, "Choose the one that feels closest."),
        ("formats", {"formats": []}, "Choose at least one"),
        ("cost", {"cost": "upto", "cost_amount": "lots"}, "Enter an amount of money"),
        ("cost", {"cost": "free", "currency": "ZZZ"}, "choose its currency"),
        ("languages", {"languages_other": "english"}, "two-letter language codes"),
        ("access", {"access": ["a-lift"]}, "Choose from the list."),
        ("times", {"slots": ["mon-night"]}, "Choose times from the week grid."),
        ("times", {"timezone": "Mars/Olympus"}, "Choose a time zone from the list."),
        ("pace", {"max_events_per_week": "99"}, "from 1 to 50"),
        ("pace", {"display_name": "a\u202eb"}, "up to 80 characters, on one line"),
        ("calendar", {"feed_style": "loud"}, "Choose one of the two."),
        ("support", {"support": ["therapy"]}, "Choose from the list."),
        ("calendar", {"calendar_label": "x" * 41}, "up to 40 characters, on one line"),
    ],
)
async def test_a_bad_answer_shows_the_form_again_with_the_problem_in_words(
    pages: Client, pool: asyncpg.Pool, step: str, answers: dict[str, Any], problem: str
) -> None:
    page = (await pages.get("/start")).text
    for earlier in ANSWERS:
        if earlier == step:
            break
        page = (await post_step(pages, page, ANSWERS[earlier])).text
    response = await post_step(pages, page, answers)
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert problem in text
    assert 'class="error-summary" role="alert"' in text and "Nothing has been saved yet." in text
    assert 'aria-invalid="true"' in text or 'aria-describedby="err-' in text
    assert f'name="step" value="{step}"' in text, "the same step again"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM profiles") == 0


async def test_back_keeps_the_answers_given(pages: Client) -> None:
    page = (await pages.get("/start")).text
    page = (await post_step(pages, page, ANSWERS["where"])).text
    page = (await post_step(pages, page, {"radius_km": "10"}, go="back")).text
    assert 'name="step" value="where"' in page and 'value="52.52049"' in page
    page = (await post_step(pages, page, ANSWERS["where"])).text
    assert 'id="radius-10" name="radius_km" value="10" checked' in page


async def test_a_form_without_its_csrf_token_is_refused(pages: Client, pool: asyncpg.Pool) -> None:
    await pages.get("/start")
    response = await pages.post("/start", data={"step": "where", **ANSWERS["where"]})
    assert response.status_code == 403
    assert "That form had expired" in response.text
    csrf_cookie = pages.cookies.get(CSRF_COOKIE)
    assert csrf_cookie


async def test_sign_up_shares_the_rate_limit_of_post_profiles(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    from services.api.app import create_app

    limited = msgspec.structs.replace(settings, profile_rate_limit=2)
    async with AsyncTestClient(app=create_app(limited), base_url="https://api.test") as client:
        body = {"home": {"lat": 52.5, "lon": 13.4}, "radius_km": 5, "comfort_level": 2}
        for _ in range(2):
            assert (await client.post("/v1/profiles", json=body)).status_code == 201
        response = await sign_up(client)
        assert response.status_code == 429 and response.headers["retry-after"]
        assert (
            "Just a moment, please" in response.text and "Nothing has been saved" in response.text
        )
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM profiles") == 2


async def test_a_place_is_geocoded_once_and_neither_cached_nor_kept(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    from services.api.app import create_app

    with FakeGeocoder({"10178 berlin": (52.521918, 13.413215)}) as fake:
        geo = msgspec.structs.replace(settings, geocoder="nominatim", geocoder_url=fake.url)
        async with AsyncTestClient(app=create_app(geo), base_url="https://api.test") as client:
            first = (await client.get("/start")).text
            assert 'id="address"' in first
            unknown = await post_step(client, first, {"address": "Nowhere 1"})
            assert unknown.status_code == 422 and "We could not find that place" in unknown.text
            found = await post_step(client, first, {"address": "10178 Berlin"})
            assert found.status_code == 200
            fields = carried(found.text)
            assert (fields["lat"], fields["lon"]) == (["52.522"], ["13.413"])
            assert "10178" not in found.text, "the address itself is not carried on"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM geocode_cache") == 0
