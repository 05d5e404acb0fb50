"""The public pages over HTTP: the front page, an event's page and its `.ics` download."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
from litestar.testing import AsyncTestClient

from tests.factories import bearer, create_organiser, post_event

Client = AsyncTestClient[Any]
BERLIN = ZoneInfo("Europe/Berlin")
# Words that would make someone feel labelled; no page for people uses them.
CLINICAL = re.compile(
    r"anxiety|anxious|disorder|patient|symptom|therapy|diagnos|mental|treatment|phobia",
    re.IGNORECASE,
)


def next_weekday(weekday: int, weeks_ahead: int = 1) -> date:
    today = datetime.now(BERLIN).date()
    return today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)


async def test_front_page_says_what_lowkey_is_and_where_to_start(api: Client) -> None:
    response = await api.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<h1>Small, calm things to do near you</h1>" in html
    assert 'href="/start"' in html and "Get started" in html
    assert 'href="/schema"' in html and 'href="/schema/openapi.json"' in html
    assert not CLINICAL.search(html)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_event_page_shows_dates_place_and_what_it_is_like(
    api: Client, admin_headers: dict[str, str]
) -> None:
    _, key = await create_organiser(api, admin_headers)
    tuesday = next_weekday(1)
    event = await post_event(
        api,
        key,
        title="Quiet board games",
        starts_at=f"{tuesday}T19:00:00",
        ends_at=f"{tuesday}T21:00:00",
        recurrence="FREQ=WEEKLY;BYDAY=TU",
        accessibility=["step_free", "quiet_room"],
        cost_cents=350,
        currency="EUR",
    )
    response = await api.get(f"/events/{event['id']}")
    assert response.status_code == 200, response.text
    html = response.text
    assert "<h1>Quiet board games</h1>" in html
    first = datetime.combine(tuesday, datetime.min.time())
    for week in range(3):
        day = first + timedelta(weeks=week)
        assert f"{day:%A} {day.day} {day:%B %Y},\n        19:00 to 21:00" in html
    assert "Europe/Berlin" in html and "It repeats" in html
    osm = "https://www.openstreetmap.org/?mlat=52.51450&amp;mlon=13.40160#map=17/52.51450/13.40160"
    assert osm in html
    assert "Stadtbibliothek" in html and "Breite Str. 30" in html
    assert "About 8 people." in html and "There is a clear activity to follow." in html
    assert "It is quiet." in html and "Talking is optional" in html
    assert "Newcomers are welcomed" in html
    assert "Step-free entrance, A quiet room to step away to" in html
    assert "€3.50" in html and "German, English" in html
    assert f'href="/events/{event["id"]}.ics"' in html
    assert "cancelled" not in html.lower()
    assert not CLINICAL.search(html)


async def test_event_alone_downloads_as_a_calendar_clients_read(
    api: Client, admin_headers: dict[str, str]
) -> None:
    _, key = await create_organiser(api, admin_headers)
    tuesday = next_weekday(1)
    until = tuesday + timedelta(weeks=3)
    event = await post_event(
        api,
        key,
        starts_at=f"{tuesday}T19:00:00",
        ends_at=f"{tuesday}T21:00:00",
        recurrence=f"FREQ=WEEKLY;BYDAY=TU;UNTIL={until:%Y%m%d}",
    )
    response = await api.get(f"/events/{event['id']}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    calendar = icalendar.Calendar.from_ical(response.content)
    (entry,) = calendar.walk("VEVENT")
    assert str(entry["UID"]) == f"event-{event['id']}@lowkey"
    assert str(entry["URL"]) == f"http://api.test/events/{event['id']}"
    assert entry["RRULE"]["UNTIL"][0].tzinfo is not None  # UTC beside a TZID, per RFC 5545
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert "What it is like: small, quiet, structured group" in str(entry["DESCRIPTION"])
    starts = [
        o["DTSTART"].dt
        for o in recurring_ical_events.of(calendar).between(
            datetime.now(UTC), datetime.now(UTC) + timedelta(weeks=8)
        )
    ]
    assert [s.astimezone(BERLIN).hour for s in starts] == [19] * 4
    assert [s.date() for s in starts] == [tuesday + timedelta(weeks=w) for w in range(4)]


async def test_cancelled_event_page_says_so(api: Client, admin_headers: dict[str, str]) -> None:
    _, key = await create_organiser(api, admin_headers)
    event = await post_event(api, key)
    cancelled = await api.post(f"/v1/events/{event['id']}/cancel", headers=bearer(key))
    assert cancelled.status_code == 200
    html = (await api.get(f"/events/{event['id']}")).text
    assert "This event has been cancelled." in html
    ics = icalendar.Calendar.from_ical((await api.get(f"/events/{event['id']}.ics")).content)
    (entry,) = ics.walk("VEVENT")
    assert entry["STATUS"] == "CANCELLED" and str(entry["SUMMARY"]).startswith("Cancelled: ")


async def test_online_event_page_has_its_link_and_no_map(
    api: Client, admin_headers: dict[str, str]
) -> None:
    _, key = await create_organiser(api, admin_headers)
    event = await post_event(
        api, key, format="online", venue=None, online_url="https://meet.example.org/quiet"
    )
    html = (await api.get(f"/events/{event['id']}")).text
    assert 'href="https://meet.example.org/quiet"' in html
    assert "openstreetmap" not in html


async def test_unknown_or_malformed_event_is_a_404_page(api: Client) -> None:
    for path in (
        "/events/424242",
        "/events/424242.ics",
        "/events/abc",
        "/events/0",
        "/events/99999999999999999999999",
    ):
        response = await api.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "We could not find that" in response.text


async def test_event_ics_keeps_text_as_typed(api: Client, admin_headers: dict[str, str]) -> None:
    _, key = await create_organiser(api, admin_headers)
    event = await post_event(api, key, title="C:\\New; chess, go", description="Line one\nTwo")
    ics = icalendar.Calendar.from_ical((await api.get(f"/events/{event['id']}.ics")).content)
    (entry,) = ics.walk("VEVENT")
    assert str(entry["SUMMARY"]) == "C:\\New; chess, go"
    assert str(entry["DESCRIPTION"]).startswith("Line one\nTwo\n\nWhat it is like: ")
