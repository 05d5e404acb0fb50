"""Discreet calendars (SPEC "Discreet calendars"): `feed_style` and `calendar_label` on
profiles, the discreet render (it names no event, organiser, lowkey, support or anxiety,
while UIDs, times and rules stay the standard feed's), a style switch at the next poll,
and the private `/e/{id}` link that shows nothing until its person signs in.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import icalendar
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.feed.render import render_key, window_monday
from shared.crypto import token_hash
from shared.db.feeds import feed_state
from shared.settings import Settings
from tests.factories import bearer, create_organiser, event_body
from tests.feed_parsers import parse_with_ical, parse_with_icaljs, parse_with_python
from tests.test_feed_service import WINDOW, feed_path, feed_token, monday, new_event, new_profile
from tests.test_pages_me import sign_in
from tests.test_pages_start import token_of

Client = AsyncTestClient[Any]
Drain = Callable[[], Awaitable[int]]

ORGANISER = "Calm Circles Collective"
LABEL = "Tuesday things"
HOME = {"lat": 52.52, "lon": 13.405}
INTERESTS = {"support-group": 0.9, "mental-health": 0.8}
FIRST_VISIT = {
    "greeter": "Sam, in the green scarf, greets newcomers at the door",
    "how_to_find": "side door, room 2",
    "what_to_bring": "a notebook",
    "leaving_early_ok": True,
}
# Properties every entry keeps exactly as the standard feed has them.
WIDE, ZOOMED = {"width": 1280, "height": 900}, {"width": 640, "height": 900}
KEPT = ("DTSTART", "DTEND", "RRULE", "EXDATE", "SEQUENCE", "STATUS", "GEO", "TRANSP")


def venue(name: str, address: str, lat: float, lon: float) -> dict[str, Any]:
    return {"name": name, "address": address, "lat": lat, "lon": lon}


@pytest.fixture
async def city(api: Client, admin_headers: dict[str, str], drain_queue: Drain) -> dict[str, Any]:
    """Two users alike but for their calendar's style, and events the worker matched to
    both: a weekly series that gives way to a nearer one-off in one week (an EXDATE), an
    online event, a hybrid one and a cancelled one."""
    _, key = await create_organiser(api, admin_headers, name=ORGANISER)
    common = {
        "interests": INTERESTS,
        "home": HOME,
        "radius_km": 10,
        "max_events_per_week": 1,
        "display_name": None,
    }
    standard = await new_profile(api, **common)
    discreet = await new_profile(api, **common, feed_style="discreet", calendar_label=LABEL)
    tags = ["support-group", "mental-health"]
    week = monday(1)
    series = await new_event(
        api,
        key,
        week + timedelta(days=1),
        title="Anxiety peer support circle",
        description="A calm circle for anxiety; peer support, no pressure.",
        recurrence="FREQ=WEEKLY;COUNT=6",
        venue=venue("Mind Garden Centre", "Gartenstr. 5, 10115 Berlin", 52.56, 13.43),
        tags=tags,
        first_visit=FIRST_VISIT,
        accessibility=["quiet_room"],
    )
    one_off = await new_event(
        api,
        key,
        week + timedelta(weeks=1, days=3),
        title="Social anxiety walk and talk",
        venue=venue("Stadtbibliothek", "Breite Str. 30, 10178 Berlin", 52.5201, 13.4051),
        tags=tags,
    )
    online = await new_event(
        api,
        key,
        week + timedelta(weeks=3, days=2),
        title="Online support evening",
        format="online",
        venue=None,
        online_url="https://meet.example/anxiety-support",
        tags=tags,
    )
    hybrid = await new_event(
        api,
        key,
        week + timedelta(weeks=4, days=2),
        title="Hybrid mental health meetup",
        format="hybrid",
        venue=venue("Mind Space", "Torstr. 1, 10119 Berlin", 52.53, 13.41),
        online_url="https://meet.example/mind-space",
        tags=tags,
    )
    cancelled = await new_event(
        api,
        key,
        week + timedelta(weeks=5, days=2),
        title="Support group picnic",
        venue=venue("Volkspark Support Pavilion", "Am Friedrichshain 1, Berlin", 52.528, 13.43),
        tags=tags,
    )
    await drain_queue()
    response = await api.post(f"/v1/events/{cancelled['id']}/cancel", headers=bearer(key))
    assert response.status_code == 200
    await drain_queue()
    events = [series, one_off, online, hybrid, cancelled]
    return {"standard": standard, "discreet": discreet, "events": events, "key": key}


async def feed_bytes(feed: Client, profile: dict[str, Any]) -> bytes:
    response = await feed.get(feed_path(profile))
    assert response.status_code == 200, response.text
    return response.content


def read_all(ics: bytes) -> dict[str, Any]:
    """The feed as icalendar + recurring-ical-events, Home Assistant's ical and ical.js
    read it; asserts they agree."""
    python = parse_with_python(ics, *WINDOW)
    assert parse_with_ical(ics, *WINDOW) == python
    assert parse_with_icaljs(ics, *WINDOW) == python
    assert python["missing_tzids"] == []
    return python


def vevents(ics: bytes) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(ics).walk("VEVENT")}


def raw(value: Any) -> str:
    """A property's value as written, with its parameters."""
    values = value if isinstance(value, list) else [value]
    parts = []
    for item in values:
        text = item.to_ical() if hasattr(item, "to_ical") else str(item)
        parts.append(text.decode() if isinstance(text, bytes) else str(text))
        params = getattr(item, "params", {})
        parts.extend(f"{k}={v}" for k, v in params.items())
    return " ".join(parts)


def every_property(ics: bytes) -> Iterator[tuple[str, str, str]]:
    """(component, property name, its text with parameters) for every property of every
    component of the parsed calendar."""
    for component in icalendar.Calendar.from_ical(ics).walk():
        for name, value in component.property_items(recursive=False):
            if name in ("BEGIN", "END"):
                continue
            yield component.name, name, raw(value)


async def stored_explanations(pool: asyncpg.Pool, profile_id: int) -> list[str]:
    rows = await pool.fetch(
        "SELECT DISTINCT x.text FROM matches m JOIN match_explanations x"
        " ON x.id = m.explanation_id WHERE m.profile_id = $1",
        profile_id,
    )
    return [r[0] for r in rows]


async def test_discreet_feed_names_no_event_organiser_or_lowkey(
    city: dict[str, Any], feed: Client, pool: asyncpg.Pool
) -> None:
    standard_ics = await feed_bytes(feed, city["standard"])
    discreet_ics = await feed_bytes(feed, city["discreet"])
    events = city["events"]
    standard, discreet = vevents(standard_ics), vevents(discreet_ics)
    assert set(standard) == set(discreet) == {f"event-{e['id']}@lowkey" for e in events}
    assert standard[f"event-{events[0]['id']}@lowkey"].get("EXDATE"), "the cap left one out"

    forbidden = {"lowkey", "support", "anxiety", "anxious", "mental", ORGANISER.lower()}
    for event in events:
        forbidden |= {event["title"].lower(), event["description"].lower()}
        forbidden |= {t for t in event["tags"]} | {t.replace("-", " ") for t in event["tags"]}
        if event["venue"]:
            forbidden.add(event["venue"]["name"].lower())
        if event["online_url"]:
            forbidden.add(event["online_url"].lower())
    forbidden |= {text.lower() for text in FIRST_VISIT.values() if isinstance(text, str)}
    forbidden |= {"first time", "quiet room", "leaving early", "why this was suggested"}
    forbidden |= {"/events/", "/me/checkin", "checkin", "say how it went"}
    forbidden |= {"newcomer", "small, structured", "cancelled:"}
    explanations = await stored_explanations(pool, city["discreet"]["id"])
    assert explanations
    forbidden |= {text.lower() for text in explanations}
    for text in explanations:
        forbidden |= {part.strip().lower() for part in text.split("·") if part.strip()}

    seen = 0
    for component, name, text in every_property(discreet_ics):
        seen += 1
        lowered = text.lower()
        for word in forbidden:
            if name == "UID" and word == "lowkey":
                # A UID is never shown; it stays the standard feed's so switching style
                # keeps every entry in place (asserted below).
                continue
            assert word not in lowered, (component, name, text, word)
    assert seen > 60

    calendar = icalendar.Calendar.from_ical(discreet_ics)
    assert str(calendar["X-WR-CALNAME"]) == LABEL and str(calendar["NAME"]) == LABEL
    assert "lowkey" not in str(calendar["PRODID"]).lower()
    for event in events:
        uid = f"event-{event['id']}@lowkey"
        entry, twin = discreet[uid], standard[uid]
        link = f"http://api.test/e/{event['id']}"
        assert str(entry["SUMMARY"]) == LABEL
        assert str(entry["DESCRIPTION"]) == link and str(entry["URL"]) == link
        assert str(entry["CLASS"]) == "PRIVATE"
        assert "CLASS" not in twin
        # The standard twin ends with its check-in link; the discreet entry has none.
        checkin = f"Afterwards, say how it went: http://api.test/me/checkin/{event['id']}"
        assert str(twin["DESCRIPTION"]).endswith("\n\n" + checkin)
        assert "checkin" not in str(entry["DESCRIPTION"]) + str(entry["URL"])
        for name in KEPT:
            assert raw(entry.get(name)) == raw(twin.get(name)), (event["title"], name)
        if event["format"] == "online":
            assert str(entry["LOCATION"]) == "Online"
        elif event["format"] == "hybrid":
            assert str(entry["LOCATION"]) == event["venue"]["address"] + " (or online)"
        else:
            assert str(entry["LOCATION"]) == event["venue"]["address"]
    assert str(discreet[f"event-{events[-1]['id']}@lowkey"]["STATUS"]) == "CANCELLED"

    # Every reader finds the same occurrences in both feeds.
    read_standard, read_discreet = read_all(standard_ics), read_all(discreet_ics)
    assert read_discreet["calendar_name"] == LABEL
    for uid, entry in read_standard["events"].items():
        assert read_discreet["events"][uid]["occurrences"] == entry["occurrences"]
        assert read_discreet["events"][uid]["sequence"] == entry["sequence"]
    # The standard feed itself still tells what to expect.
    series_uid = f"event-{events[0]['id']}@lowkey"
    assert (
        "First time?\nSam, in the green scarf" in read_standard["events"][series_uid]["description"]
    )
    for uid, entry in read_standard["events"].items():
        event_id = uid.removeprefix("event-").removesuffix("@lowkey")
        assert entry["description"].endswith(f"http://api.test/me/checkin/{event_id}")
        assert "checkin" not in read_discreet["events"][uid]["description"]


async def test_switching_style_or_label_re_renders_at_the_next_poll(
    city: dict[str, Any], feed: Client, api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    profile = city["standard"]
    headers = bearer(profile["token"])
    first = await feed.get(feed_path(profile))
    assert first.status_code == 200 and b"CLASS:PRIVATE" not in first.content

    patched = await api.patch("/v1/me", json={"feed_style": "discreet"}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert (
        patched.json()["feed_style"] == "discreet" and patched.json()["calendar_label"] == "Plans"
    )
    second = await feed.get(feed_path(profile), headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200 and second.headers["etag"] != first.headers["etag"]
    assert b"X-WR-CALNAME:Plans\r\n" in second.content and b"CLASS:PRIVATE" in second.content

    relabelled = await api.patch("/v1/me", json={"calendar_label": "Week"}, headers=headers)
    assert relabelled.status_code == 200
    third = await feed.get(feed_path(profile))
    assert third.headers["etag"] not in (first.headers["etag"], second.headers["etag"])
    assert b"SUMMARY:Week\r\n" in third.content

    back = await api.patch("/v1/me", json={"feed_style": "standard"}, headers=headers)
    assert back.status_code == 200
    fourth = await feed.get(feed_path(profile))
    # The same matches in the same style give the very same bytes again.
    assert fourth.content == first.content and fourth.headers["etag"] == first.headers["etag"]

    # The stored render's key holds the style and label themselves, not only updated_at.
    assert settings.secret_key is not None
    hashed = token_hash(settings.secret_key, feed_token(profile), purpose="feed")
    state = await feed_state(pool, hashed, None)
    assert state is not None
    week = window_monday(state.timezone, state.updated_at)
    keys = {
        render_key(msgspec.structs.replace(state, **change), week, settings.public_url)
        for change in (
            {},
            {"feed_style": "discreet"},
            {"feed_style": "discreet", "calendar_label": "Other"},
        )
    }
    assert len(keys) == 3
    await pool.execute("UPDATE profiles SET feed_style = 'discreet' WHERE id = $1", profile["id"])
    fifth = await feed.get(feed_path(profile))
    assert fifth.headers["etag"] != first.headers["etag"] and b"CLASS:PRIVATE" in fifth.content


async def test_feed_style_and_label_are_in_the_profile_me_and_export(api: Client) -> None:
    plain = await new_profile(api)
    assert (plain["feed_style"], plain["calendar_label"]) == ("standard", "Plans")
    created = await new_profile(api, feed_style="discreet", calendar_label=" Ørsted Café ")
    assert created["feed_style"] == "discreet"
    assert created["calendar_label"] == " Ørsted Café "
    headers = bearer(created["token"])
    me = (await api.get("/v1/me", headers=headers)).json()
    assert (me["feed_style"], me["calendar_label"]) == ("discreet", " Ørsted Café ")
    label = "x" * 40
    assert (await api.patch("/v1/me", json={"calendar_label": label}, headers=headers)).json()[
        "calendar_label"
    ] == label
    export = (await api.get("/v1/me/export", headers=headers)).json()
    assert export["profile"]["feed_style"] == "discreet"
    assert export["profile"]["calendar_label"] == label


BAD_PROFILE = [
    ({"calendar_label": "x" * 41}, "calendar_label"),
    ({"calendar_label": ""}, "calendar_label"),
    ({"calendar_label": "   "}, "calendar_label"),
    ({"calendar_label": "Plans\n"}, "calendar_label"),
    ({"calendar_label": "Pla\x07ns"}, "calendar_label"),
    ({"calendar_label": "Plans\u202e"}, "calendar_label"),
    ({"calendar_label": None}, "calendar_label"),
    ({"feed_style": "secret"}, "feed_style"),
    ({"feed_style": None}, "feed_style"),
]


@pytest.mark.parametrize(("change", "field"), BAD_PROFILE)
async def test_bad_style_or_label_is_422_naming_the_field_and_nothing_is_stored(
    api: Client, pool: asyncpg.Pool, change: dict[str, Any], field: str
) -> None:
    profile = await new_profile(api, feed_style="discreet", calendar_label="Week")
    before = await pool.fetchrow("SELECT * FROM profiles WHERE id = $1", profile["id"])
    body = {"home": HOME, "radius_km": 5, "comfort_level": 3, **change}
    posted = await api.post("/v1/profiles", json=body)
    assert posted.status_code == 422, posted.text
    assert field in {e["field"] for e in posted.json()["errors"]}, posted.json()
    patched = await api.patch("/v1/me", json=change, headers=bearer(profile["token"]))
    assert patched.status_code == 422, patched.text
    assert field in {e["field"] for e in patched.json()["errors"]}, patched.json()
    assert await pool.fetchval("SELECT count(*) FROM profiles") == 1
    assert await pool.fetchrow("SELECT * FROM profiles WHERE id = $1", profile["id"]) == before


def neutral(html: str, event_id: int) -> str:
    """The page without its form's own address and CSRF token."""
    html = html.replace(f'action="/e/{event_id}"', "")
    return re.sub(r'name="_csrf_token" value="[^"]*"', "", html)


@pytest.fixture
async def pages(settings: Settings, db_clean: None) -> Any:
    from services.api.app import create_app

    local = msgspec.structs.replace(settings, public_url="http://127.0.0.1:8000")
    async with AsyncTestClient(app=create_app(local), base_url="http://127.0.0.1:8000") as c:
        yield c


async def test_the_private_link_shows_nothing_until_its_person_signs_in(
    pages: Client, admin_headers: dict[str, str]
) -> None:
    _, key = await create_organiser(pages, admin_headers, name=ORGANISER)
    event = await new_event(
        pages,
        key,
        monday(1) + timedelta(days=2),
        title="Anxiety peer support circle",
        venue=venue("Mind Garden Centre", "Gartenstr. 5, 10115 Berlin", 52.56, 13.43),
    )
    profile = await new_profile(pages, feed_style="discreet")

    signed_out = await pages.get(f"/e/{event['id']}", follow_redirects=False)
    missing = await pages.get("/e/999999", follow_redirects=False)
    assert signed_out.status_code == missing.status_code == 200
    assert neutral(signed_out.text, event["id"]) == neutral(missing.text, 999999)
    for word in ("lowkey", "anxiety", "support", "Mind Garden", ORGANISER, "Gartenstr"):
        assert word.lower() not in signed_out.text.lower(), word
    assert signed_out.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in signed_out.text

    wrong = await pages.post(
        f"/e/{event['id']}",
        data={"key": "lk_usr_not-a-key", "_csrf_token": token_of(signed_out.text)},
        follow_redirects=False,
    )
    assert wrong.status_code == 401 and "lowkey" not in wrong.text.lower()
    right = await pages.post(
        f"/e/{event['id']}",
        data={"key": profile["token"], "_csrf_token": token_of(signed_out.text)},
        follow_redirects=False,
    )
    assert right.status_code == 303 and right.headers["location"] == f"/events/{event['id']}"

    # Signed in (there, or on /me/sign-in), the link leads to the event's own page.
    followed = await pages.get(f"/e/{event['id']}", follow_redirects=False)
    assert followed.status_code == 303
    assert followed.headers["location"] == f"/events/{event['id']}"
    assert "Anxiety peer support circle" in (await pages.get(f"/e/{event['id']}")).text
    # Added to Outlook from the calendar page, it is named by its label too.
    calendar = (await pages.get("/me/calendar")).text
    assert "name=Plans" in calendar and "name=lowkey" not in calendar

    other = await new_profile(pages)
    await pages.post("/me/sign-out", data={"_csrf_token": token_of((await pages.get("/me")).text)})
    assert (await pages.get(f"/e/{event['id']}", follow_redirects=False)).status_code == 200
    assert (await sign_in(pages, other["token"])).status_code == 303
    assert (await pages.get(f"/e/{event['id']}", follow_redirects=False)).status_code == 303


async def test_the_private_link_and_first_time_pass_axe_in_chromium(
    settings: Settings, db_clean: None, admin_headers: dict[str, str]
) -> None:
    """The neutral sign-in page and an event page with "First time?" meet WCAG 2.2 AA
    (axe-core) at 1280 px, 390 px and 200 % zoom, with no sideways scrolling."""
    from browser import (
        CHROMIUM,
        CHROMIUM_ARGS,
        PHONE,
        axe_violations,
        free_port,
        require_browser,
        serve,
        sideways_overflow,
        with_axe,
    )

    require_browser()
    import httpx
    from playwright.async_api import async_playwright

    from services.api.app import create_app

    port = free_port()
    local = msgspec.structs.replace(settings, public_url=f"http://127.0.0.1:{port}")
    with serve(create_app(local), port) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            made = await http.post(
                "/v1/admin/organisers",
                json={"name": ORGANISER, "contact_email": "host@example.org"},
                headers=admin_headers,
            )
            day = monday(1) + timedelta(days=2)
            body = event_body(
                starts_at=f"{day}T19:00:00",
                ends_at=f"{day}T21:00:00",
                first_visit=FIRST_VISIT,
                accessibility=["quiet_room"],
            )
            created = await http.post(
                "/v1/events", json=body, headers=bearer(made.json()["api_key"])
            )
            assert created.status_code == 201, created.text
            event_id = created.json()["id"]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport=WIDE)
                await with_axe(context)
                page = await context.new_page()
                for path in (f"/e/{event_id}", f"/events/{event_id}"):
                    await page.goto(base + path)
                    for size in (
                        {"width": 1280, "height": 900},
                        PHONE,
                        {"width": 640, "height": 900},
                    ):
                        await page.set_viewport_size(size)
                        assert await axe_violations(page) == [], (path, size)
                        assert await sideways_overflow(page) <= 0, (path, size)
                assert "First time?" in await page.content()
            finally:
                await browser.close()
