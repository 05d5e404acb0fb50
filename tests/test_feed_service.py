"""The feed service over HTTP on the real database: bytes, validators, caching, privacy, cap.

Organisers, events and profiles come through the API; matches are written with the
worker's own upsert (shared/db/matches.py), which bumps the profile's matches_version.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import asyncpg
import icalendar
import pytest
from litestar.testing import AsyncTestClient

from services.feed.render import RENDER_VERSION, load_feed, render_key, window_monday
from shared.crypto import token_hash
from shared.db.feeds import feed_state
from shared.db.matches import upsert_pairs
from shared.settings import Settings
from tests.factories import bearer, create_organiser, post_event
from tests.feed_parsers import (
    parse_with_ical,
    parse_with_icaljs,
    parse_with_python,
    require_icaljs,
)
from tests.weighing import parts_scoring

BERLIN = ZoneInfo("Europe/Berlin")
DISPLAY_NAME = "Wren Quietwater"
HOME = {"lat": 52.531, "lon": 13.388}
PRIVATE_INTERESTS = {"knitting-circle": 0.9, "chess-club": 0.5}
EXPLANATION = "board games · small, structured group, newcomers welcomed · free"

Client = AsyncTestClient[Any]


# --- building data -------------------------------------------------------------------


def monday(weeks_ahead: int) -> date:
    """The Monday of the calendar week `weeks_ahead` weeks from this one, in Berlin."""
    today = datetime.now(BERLIN).date()
    return today - timedelta(days=today.weekday()) + timedelta(weeks=weeks_ahead)


def local(day: date, hour: int) -> str:
    return datetime.combine(day, time(hour)).isoformat()


async def new_profile(api: Client, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "display_name": DISPLAY_NAME,
        "home": HOME,
        "radius_km": 7,
        "interests": PRIVATE_INTERESTS,
        "comfort_level": 3,
        "open_to_stretch": False,
        "formats": ["in_person", "online"],
        "timezone": "Europe/Berlin",
        "max_events_per_week": 3,
    }
    body.update(overrides)
    response = await api.post("/v1/profiles", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def feed_path(profile: dict[str, Any]) -> str:
    return urlparse(profile["feed_url"]).path


def feed_token(profile: dict[str, Any]) -> str:
    return feed_path(profile).removeprefix("/feeds/").removesuffix(".ics")


async def new_event(api: Client, key: str, day: date, **overrides: Any) -> dict[str, Any]:
    fields = {"starts_at": local(day, 19), "ends_at": local(day, 21), **overrides}
    return await post_event(api, key, **fields)


async def match(
    pool: asyncpg.Pool,
    profile: dict[str, Any],
    event: dict[str, Any],
    score: float = 0.8,
    explanation: str = EXPLANATION,
) -> None:
    """Insert or update one match the way the worker writes them (bumping the version)."""
    pair = parts_scoring(event["id"], score, explanation)
    async with pool.acquire() as conn:
        await upsert_pairs(conn, [(profile["id"], pair)])


# Test-only: one pair gone, with the bump every writer of `matches` makes.
DELETE_MATCH = """
WITH gone AS (DELETE FROM matches WHERE profile_id = $1 AND event_id = $2 RETURNING profile_id)
UPDATE profiles SET matches_version = matches_version + 1 WHERE id IN (SELECT profile_id FROM gone)
"""


async def unmatch(pool: asyncpg.Pool, profile: dict[str, Any], event: dict[str, Any]) -> None:
    await pool.execute(DELETE_MATCH, profile["id"], event["id"])


@pytest.fixture
async def organiser_key(api: Client, admin_headers: dict[str, str]) -> str:
    _, key = await create_organiser(api, admin_headers)
    return key


# --- reading feeds ---------------------------------------------------------------------

WINDOW = (datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(weeks=40))


def read_everywhere(ics: bytes) -> dict[str, Any]:
    """The feed as icalendar (round trip), recurring_ical_events, Home Assistant's ical and
    ical.js read it; asserts they all agree and returns the common reading."""
    calendar = icalendar.Calendar.from_ical(ics)
    again = icalendar.Calendar.from_ical(calendar.to_ical())
    assert [str(e["UID"]) for e in again.walk("VEVENT")] == [
        str(e["UID"]) for e in calendar.walk("VEVENT")
    ]
    assert [e.decoded("DTSTART") for e in again.walk("VEVENT")] == [
        e.decoded("DTSTART") for e in calendar.walk("VEVENT")
    ]
    python = parse_with_python(ics, *WINDOW)
    assert parse_with_ical(ics, *WINDOW) == python
    require_icaljs()
    icaljs = parse_with_icaljs(ics, *WINDOW)
    assert icaljs == python
    assert python["missing_tzids"] == []
    assert python["calendar_name"] == "lowkey"
    return python


def uid(event: dict[str, Any]) -> str:
    return f"event-{event['id']}@lowkey"


async def get_feed(feed: Client, profile: dict[str, Any], **headers: str) -> Any:
    return await feed.get(feed_path(profile), headers=headers)


# --- HTTP ------------------------------------------------------------------------------


async def test_feed_answers_calendar_bytes_with_private_headers(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    event = await new_event(api, organiser_key, monday(1) + timedelta(days=2))
    await match(pool, profile, event)

    response = await get_feed(feed, profile)

    assert response.status_code == 200
    assert response.headers.get_list("content-type") == ["text/calendar; charset=utf-8"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-robots-tag"] == "noindex"
    assert response.headers["cache-control"] == "private, max-age=900"
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert parsedate_to_datetime(response.headers["last-modified"]) <= datetime.now(UTC)
    assert response.content.startswith(b"BEGIN:VCALENDAR\r\n")
    reading = read_everywhere(response.content)
    entry = reading["events"][uid(event)]
    assert entry["summary"] == "Quiet board games"
    assert entry["status"] == "CONFIRMED" and entry["transp"] == "TRANSPARENT"
    assert entry["url"] == f"http://api.test/events/{event['id']}"
    assert (
        "Why this was suggested: " + EXPLANATION.replace("1.8 km away · ", "")
        in (entry["description"])
    )
    start = datetime.combine(monday(1) + timedelta(days=2), time(19), BERLIN).astimezone(UTC)
    assert entry["occurrences"] == [f"{start:%Y-%m-%dT%H:%M:%SZ}"]


async def test_each_standard_entry_ends_with_the_link_to_its_checkin_page(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    series = await new_event(
        api, organiser_key, monday(1) + timedelta(days=1), recurrence="FREQ=WEEKLY;COUNT=3"
    )
    online = await new_event(
        api,
        organiser_key,
        monday(2) + timedelta(days=3),
        format="online",
        venue=None,
        online_url="https://meet.example/tea",
    )
    profile = await new_profile(api)
    for event in (series, online):
        await match(pool, profile, event)

    # icalendar, recurring-ical-events, Home Assistant's ical and ical.js, all agreeing.
    events = read_everywhere((await get_feed(feed, profile)).content)["events"]
    for event in (series, online):
        last = events[uid(event)]["description"].rsplit("\n\n", 1)[1]
        assert last == f"Afterwards, say how it went: http://api.test/me/checkin/{event['id']}"
    assert events[uid(series)]["description"].endswith(
        f"Why this was suggested: {EXPLANATION}\n\n"
        f"Afterwards, say how it went: http://api.test/me/checkin/{series['id']}"
    )
    assert events[uid(online)]["description"].endswith(
        "Join online: https://meet.example/tea\n\n"
        f"Afterwards, say how it went: http://api.test/me/checkin/{online['id']}"
    )
    assert len(events[uid(series)]["occurrences"]) == 3


async def test_a_feed_without_matches_is_an_empty_valid_calendar(api: Client, feed: Client) -> None:
    profile = await new_profile(api)
    response = await get_feed(feed, profile)
    assert response.status_code == 200
    assert read_everywhere(response.content)["events"] == {}


async def test_if_none_match_gives_304_with_validators(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    await match(pool, profile, await new_event(api, organiser_key, monday(1)))
    first = await get_feed(feed, profile)
    etag = first.headers["etag"]

    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        again = await get_feed(feed, profile, **{"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["last-modified"] == first.headers["last-modified"]
        assert again.headers["cache-control"] == "private, max-age=900"
        assert again.headers["referrer-policy"] == "no-referrer"

    other = await get_feed(feed, profile, **{"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content


async def test_if_modified_since_gives_304_unless_if_none_match_differs(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    await match(pool, profile, await new_event(api, organiser_key, monday(1)))
    first = await get_feed(feed, profile)
    modified = parsedate_to_datetime(first.headers["last-modified"])

    same = await get_feed(feed, profile, **{"If-Modified-Since": first.headers["last-modified"]})
    assert same.status_code == 304 and same.content == b""
    later = format_datetime(modified + timedelta(hours=1), usegmt=True)
    assert (await get_feed(feed, profile, **{"If-Modified-Since": later})).status_code == 304
    earlier = format_datetime(modified - timedelta(seconds=1), usegmt=True)
    response = await get_feed(feed, profile, **{"If-Modified-Since": earlier})
    assert response.status_code == 200 and response.content == first.content
    garbage = await get_feed(feed, profile, **{"If-Modified-Since": "yesterday-ish"})
    assert garbage.status_code == 200
    # If-None-Match takes precedence: a stale ETag gets the bytes whatever the date says.
    both = await get_feed(
        feed,
        profile,
        **{"If-None-Match": '"stale"', "If-Modified-Since": first.headers["last-modified"]},
    )
    assert both.status_code == 200 and both.content == first.content


async def test_head_has_the_get_headers_and_no_body(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    await match(pool, profile, await new_event(api, organiser_key, monday(1)))
    got = await get_feed(feed, profile)
    head = await feed.head(feed_path(profile))

    assert head.status_code == 200
    assert head.content == b""
    for name in (
        "etag",
        "last-modified",
        "cache-control",
        "referrer-policy",
        "x-robots-tag",
    ):
        assert head.headers[name] == got.headers[name], name
    assert head.headers.get_list("content-type") == ["text/calendar; charset=utf-8"]
    assert head.headers["content-length"] == str(len(got.content))
    conditional = await feed.head(
        feed_path(profile), headers={"If-None-Match": got.headers["etag"]}
    )
    assert conditional.status_code == 304


# --- stability and changes ---------------------------------------------------------------


async def test_unchanged_matches_give_identical_bytes_across_requests_and_renders(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    for offset, score in ((1, 0.9), (2, 0.7)):
        await match(pool, profile, await new_event(api, organiser_key, monday(offset)), score)
    series = await new_event(
        api, organiser_key, monday(1) + timedelta(days=1), recurrence="FREQ=WEEKLY;BYDAY=TU"
    )
    await match(pool, profile, series, 0.5)
    first = await get_feed(feed, profile)
    second = await get_feed(feed, profile)
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]

    # Drop the stored render: a fresh render of the same matches is byte-identical.
    await pool.execute("DELETE FROM feed_renders WHERE profile_id = $1", profile["id"])
    rendered = await get_feed(feed, profile)
    assert rendered.content == first.content
    assert rendered.headers["etag"] == first.headers["etag"]

    # A profile edit that the feed does not show re-renders, yet the bytes and their
    # Last-Modified stay the same (stored an hour back, so a fresh time would show).
    await pool.execute(
        "UPDATE feed_renders SET last_modified = last_modified - interval '1 hour'"
        " WHERE profile_id = $1",
        profile["id"],
    )
    kept = await pool.fetchval(
        "SELECT last_modified FROM feed_renders WHERE profile_id = $1", profile["id"]
    )
    patched = await api.patch(
        "/v1/me", json={"display_name": "Someone Else"}, headers=bearer(profile["token"])
    )
    assert patched.status_code == 200, patched.text
    before = await pool.fetchval(
        "SELECT render_key FROM feed_renders WHERE profile_id = $1", profile["id"]
    )
    again = await get_feed(feed, profile)
    after = await pool.fetchval(
        "SELECT render_key FROM feed_renders WHERE profile_id = $1", profile["id"]
    )
    assert after != before
    assert again.content == first.content
    assert again.headers["last-modified"] == format_datetime(kept, usegmt=True)


async def test_a_render_holds_all_week_and_a_new_week_keeps_last_modified_if_bytes_are_equal(
    api: Client, pool: asyncpg.Pool, settings: Settings, organiser_key: str
) -> None:
    profile = await new_profile(api)
    await match(pool, profile, await new_event(api, organiser_key, monday(2)))
    token = feed_token(profile)

    async def stored_key() -> str:
        key: str = await pool.fetchval(
            "SELECT render_key FROM feed_renders WHERE profile_id = $1", profile["id"]
        )
        return key

    week_start = datetime.combine(monday(0), time(0, 30), BERLIN)
    first = await load_feed(pool, settings, token, now=week_start)
    assert first is not None
    key = await stored_key()
    assert key.startswith(f"v{RENDER_VERSION}:{monday(0).isoformat()}:")
    await pool.execute(
        "UPDATE feed_renders SET last_modified = last_modified - interval '1 hour'"
        " WHERE profile_id = $1",
        profile["id"],
    )
    # Sunday night is still the same week: the stored render is served as it is.
    sunday = await load_feed(pool, settings, token, now=week_start + timedelta(days=6, hours=23))
    assert sunday is not None and await stored_key() == key
    assert sunday.last_modified == first.last_modified - timedelta(hours=1)
    # Monday: the window moves on, the feed is rendered again; equal bytes keep their time.
    next_week = await load_feed(pool, settings, token, now=week_start + timedelta(weeks=1))
    assert next_week is not None
    assert await stored_key() == key.replace(monday(0).isoformat(), monday(1).isoformat(), 1)
    assert await stored_key() != key
    assert next_week.body == first.body and next_week.etag == first.etag
    assert next_week.last_modified == first.last_modified - timedelta(hours=1)


async def test_event_update_keeps_uid_and_raises_sequence(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    event = await new_event(api, organiser_key, monday(1))
    await match(pool, profile, event)
    before = read_everywhere((await get_feed(feed, profile)).content)["events"][uid(event)]
    first = await get_feed(feed, profile)

    patched = await api.patch(
        f"/v1/events/{event['id']}",
        json={"title": "Very quiet board games"},
        headers=bearer(organiser_key),
    )
    assert patched.status_code == 200, patched.text
    response = await get_feed(feed, profile)
    after = read_everywhere(response.content)["events"][uid(event)]

    assert after["summary"] == "Very quiet board games"
    assert after["sequence"] == before["sequence"] + 1
    assert response.headers["etag"] != first.headers["etag"]
    assert parsedate_to_datetime(response.headers["last-modified"]) >= parsedate_to_datetime(
        first.headers["last-modified"]
    )


async def test_cancelled_event_stays_as_cancelled(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    event = await new_event(api, organiser_key, monday(1))
    await match(pool, profile, event)
    await get_feed(feed, profile)

    cancelled = await api.post(f"/v1/events/{event['id']}/cancel", headers=bearer(organiser_key))
    assert cancelled.status_code == 200, cancelled.text
    entry = read_everywhere((await get_feed(feed, profile)).content)["events"][uid(event)]
    assert entry["status"] == "CANCELLED"
    assert entry["sequence"] == 1
    assert entry["summary"].startswith("Cancelled: ")


async def test_deleted_event_is_gone(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    kept = await new_event(api, organiser_key, monday(1))
    dropped = await new_event(api, organiser_key, monday(2))
    await match(pool, profile, kept)
    await match(pool, profile, dropped)
    assert uid(dropped) in read_everywhere((await get_feed(feed, profile)).content)["events"]

    deleted = await api.delete(f"/v1/events/{dropped['id']}", headers=bearer(organiser_key))
    assert deleted.status_code == 204, deleted.text
    events = read_everywhere((await get_feed(feed, profile)).content)["events"]
    assert sorted(events) == [uid(kept)]


# Test-only: an event moved in time (events cannot be posted in the past), as if it had
# been posted before; the trigger bumps the matched profiles as any event edit does.
MOVE_EVENT = """
UPDATE events SET starts_at = $2::timestamp, ends_at = $3::timestamp,
    starts_at_utc = $2::timestamp AT TIME ZONE timezone,
    ends_at_utc = $3::timestamp AT TIME ZONE timezone,
    over_at = $3::timestamp AT TIME ZONE timezone, updated_at = now(), sequence = sequence + 1
WHERE id = $1
"""


async def move_event(pool: asyncpg.Pool, event: dict[str, Any], starts: datetime) -> None:
    """A one-off moved to start at `starts` (naive, Berlin), two hours long."""
    await pool.execute(MOVE_EVENT, event["id"], starts, starts + timedelta(hours=2))


async def test_events_over_before_this_week_leave_the_feed(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    event = await new_event(api, organiser_key, monday(1))
    await match(pool, profile, event)
    assert uid(event) in (await get_feed(feed, profile)).text
    # Last Sunday evening: a past week, outside the window.
    await move_event(pool, event, datetime.combine(monday(0) - timedelta(days=1), time(19)))
    assert uid(event) not in (await get_feed(feed, profile)).text


async def test_this_weeks_ended_and_cancelled_events_keep_their_slots(
    api: Client, pool: asyncpg.Pool, settings: Settings, organiser_key: str
) -> None:
    profile = await new_profile(api, max_events_per_week=2)
    ended, cancelled, later = [
        await new_event(api, organiser_key, monday(1), title=t) for t in ("A", "B", "C")
    ]
    for event, score in ((ended, 0.9), (cancelled, 0.8), (later, 0.7)):
        await match(pool, profile, event, score)
    # This Monday 08:00-10:00 (over by Monday noon), and this Thursday and Sunday evenings.
    await move_event(pool, ended, datetime.combine(monday(0), time(8)))
    await move_event(pool, cancelled, datetime.combine(monday(0) + timedelta(days=3), time(19)))
    await move_event(pool, later, datetime.combine(monday(0) + timedelta(days=6), time(19)))
    off = await api.post(f"/v1/events/{cancelled['id']}/cancel", headers=bearer(organiser_key))
    assert off.status_code == 200, off.text
    token = feed_token(profile)
    noon = datetime.combine(monday(0), time(12), BERLIN)
    for moment in (noon, noon + timedelta(days=6, hours=11)):  # Monday noon to Sunday 23:00
        served = await load_feed(pool, settings, token, now=moment)
        assert served is not None and served.body is not None
        await pool.execute("DELETE FROM feed_renders WHERE profile_id = $1", profile["id"])
        calendar = icalendar.Calendar.from_ical(served.body)
        shown = {str(e["UID"]): str(e["STATUS"]) for e in calendar.walk("VEVENT")}
        assert shown == {uid(ended): "CONFIRMED", uid(cancelled): "CANCELLED"}


async def test_cache_key_follows_every_write_to_matches(
    api: Client, pool: asyncpg.Pool, settings: Settings, organiser_key: str
) -> None:
    profile = await new_profile(api)
    first = await new_event(api, organiser_key, monday(1))
    second = await new_event(api, organiser_key, monday(2))
    lookup = token_hash(settings.secret_key or "", feed_token(profile), purpose="feed")
    week = window_monday("Europe/Berlin", datetime.now(UTC))

    async def key() -> str:
        state = await feed_state(pool, lookup, None)
        assert state is not None
        return render_key(state, week, settings.public_url)

    keys = [await key()]
    await match(pool, profile, first, 0.8)  # insert
    keys.append(await key())
    await match(pool, profile, second, 0.6)  # another insert
    keys.append(await key())
    await match(pool, profile, first, 0.5)  # update
    keys.append(await key())
    await unmatch(pool, profile, second)  # delete
    keys.append(await key())
    await pool.execute(
        "UPDATE events SET updated_at = now(), sequence = sequence + 1 WHERE id = $1", first["id"]
    )
    keys.append(await key())
    assert len(set(keys)) == len(keys)
    # Nothing written: the key holds.
    assert await key() == keys[-1]
    # Another week: another key.
    state = await feed_state(pool, lookup, None)
    assert state is not None
    assert render_key(state, week + timedelta(weeks=1), settings.public_url) != keys[-1]


# --- tokens ------------------------------------------------------------------------------


def _comparable(response: Any) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "date"}
    return response.status_code, response.content, headers


async def test_rotated_and_unknown_tokens_get_the_same_404(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    await match(pool, profile, await new_event(api, organiser_key, monday(1)))
    assert (await get_feed(feed, profile)).status_code == 200

    rotated = await api.post("/v1/me/feed/rotate", headers=bearer(profile["token"]))
    assert rotated.status_code == 200, rotated.text
    new_path = urlparse(rotated.json()["feed_url"]).path
    assert new_path != feed_path(profile)

    old = await get_feed(feed, profile)
    unknown = await feed.get("/feeds/" + "A" * 32 + ".ics")
    assert old.status_code == 404
    assert _comparable(old) == _comparable(unknown)
    assert old.headers["referrer-policy"] == "no-referrer"
    assert old.headers["x-robots-tag"] == "noindex"
    assert old.headers["cache-control"] == "no-store"
    old_head = await feed.head(feed_path(profile))
    unknown_head = await feed.head("/feeds/" + "A" * 32 + ".ics")
    assert old_head.status_code == unknown_head.status_code == 404
    assert _comparable(old_head) == _comparable(unknown_head)
    assert feed_token(profile) not in old.text
    fresh = await feed.get(new_path)
    assert fresh.status_code == 200 and b"BEGIN:VEVENT" in fresh.content


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/short.ics",
        "/feeds/" + "A" * 32,
        "/feeds/" + "A" * 32 + ".ical",
        "/feeds/" + "A" * 31 + "$.ics",
        "/feeds/" + "A" * 32 + ".ics.ics",
        "/feeds/" + "A" * 200 + ".ics",
        "/feeds/" + "A" * 32 + ".ics/extra",
    ],
)
async def test_anything_but_a_token_file_is_404(feed: Client, path: str) -> None:
    response = await feed.get(path)
    assert response.status_code == 404


async def test_a_known_token_with_a_wrong_suffix_is_404(api: Client, feed: Client) -> None:
    profile = await new_profile(api)
    assert (await feed.get(feed_path(profile).removesuffix(".ics"))).status_code == 404
    assert (await feed.get(feed_path(profile) + "x")).status_code == 404


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records() -> Iterator[list[logging.LogRecord]]:
    handler = _Records()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def test_the_token_never_reaches_a_log_record(
    api: Client,
    feed: Client,
    pool: asyncpg.Pool,
    organiser_key: str,
    log_records: list[logging.LogRecord],
) -> None:
    profile = await new_profile(api)
    await match(pool, profile, await new_event(api, organiser_key, monday(1)))
    token = feed_token(profile)
    log_records.clear()

    assert (await get_feed(feed, profile)).status_code == 200
    assert (await feed.head(feed_path(profile))).status_code == 200
    assert (await feed.get(f"/feeds/{token}x.ics")).status_code == 404
    assert (await feed.get(f"/feeds/{token}")).status_code == 404

    request_lines = [r for r in log_records if r.name == "lowkey.request"]
    assert len(request_lines) == 4
    assert all(getattr(r, "path", None) == "/feeds/[redacted].ics" for r in request_lines)
    # httpx logs the test client's own requests; everything else is the server side.
    server_side = [r for r in log_records if not r.name.startswith(("httpx", "httpcore"))]
    assert len(server_side) >= 4
    for record in server_side:
        assert token not in record.getMessage()
        assert token not in repr(record.__dict__)


@pytest.mark.parametrize(
    "template",
    [
        "/feeds/{}.ics/",
        "/feeds//{}.ics",
        "/feeds/{}.ics/extra",
        "/feeds/{}.ics?x=1",
        "/FEEDS/{}.ics",
    ],
)
async def test_the_token_stays_out_of_the_log_whatever_surrounds_it(
    api: Client, feed: Client, template: str, log_records: list[logging.LogRecord]
) -> None:
    profile = await new_profile(api)
    token = feed_token(profile)
    log_records.clear()
    await feed.get(template.format(token))
    server_side = [r for r in log_records if not r.name.startswith(("httpx", "httpcore"))]
    assert all(token not in repr(r.__dict__) for r in server_side)


async def test_an_erased_profile_has_no_feed(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    await match(pool, profile, await new_event(api, organiser_key, monday(1)))
    assert (await get_feed(feed, profile)).status_code == 200
    erased = await api.delete("/v1/me", headers=bearer(profile["token"]))
    assert erased.status_code == 204, erased.text
    assert (await get_feed(feed, profile)).status_code == 404
    assert await pool.fetchval("SELECT count(*) FROM feed_renders") == 0


def test_uvicorn_access_log_is_off(settings: Settings) -> None:
    from services.cli import _uvicorn_server
    from services.feed.app import create_app

    server = _uvicorn_server(create_app(settings), settings, settings.feed_port)
    assert server.config.access_log is False


# --- content -------------------------------------------------------------------------------


async def test_lines_end_in_crlf_and_fit_75_octets(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    event = await new_event(
        api,
        organiser_key,
        monday(1),
        title="Café crème & ünïcödé tea 🫖🎲🧶 " * 4,
        description="Long, long; description ß " * 20,
    )
    await match(pool, profile, event)
    ics = (await get_feed(feed, profile)).content
    assert ics.endswith(b"\r\n")
    lines = ics.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # long lines really were folded
    read_everywhere(ics)


async def test_nothing_about_the_user_is_in_the_bytes(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api, comfort_level=2)
    online = await new_event(
        api,
        organiser_key,
        monday(2),
        format="online",
        venue=None,
        online_url="https://meet.example/games",
    )
    for event in (await new_event(api, organiser_key, monday(1)), online):
        # Even a distance that slipped into the stored text stays out of the feed.
        await match(pool, profile, event, 0.7, explanation="1.8 km away · " + EXPLANATION)
    ics = (await get_feed(feed, profile)).content
    text = ics.decode()
    unfolded = text.replace("\r\n ", "")
    for secret in (DISPLAY_NAME, "Wren", "Quietwater", *PRIVATE_INTERESTS, "52.531", "13.388"):
        assert secret not in unfolded, secret
    assert "km" not in unfolded
    for word in ("comfort", "COMFORT", "anxiety", "radius", "intensity", "interest"):
        assert word not in unfolded, word
    assert "X-WR-CALNAME:lowkey\r\n" in text and "NAME:lowkey\r\n" in text
    read_everywhere(ics)


# --- the weekly cap ------------------------------------------------------------------------


async def test_the_weekly_cap_keeps_the_best_matches_of_a_week(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api, max_events_per_week=1)
    week = monday(2)
    events = [await new_event(api, organiser_key, week + timedelta(days=d)) for d in (0, 2, 4)]
    for event, score in zip(events, (0.7, 0.9, 0.8), strict=True):
        await match(pool, profile, event, score)
    ics = (await get_feed(feed, profile)).content
    assert ics.count(b"BEGIN:VEVENT") == 1
    assert sorted(read_everywhere(ics)["events"]) == [uid(events[1])]


async def test_a_series_gives_way_to_a_better_one_off_with_an_exdate(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api, max_events_per_week=1)
    first_tuesday = monday(1) + timedelta(days=1)
    series = await new_event(
        api,
        organiser_key,
        first_tuesday,
        recurrence="FREQ=WEEKLY;BYDAY=TU;COUNT=4",
        title="Weekly walk",
    )
    busy_week_thursday = monday(2) + timedelta(days=3)
    one_off = await new_event(api, organiser_key, busy_week_thursday, title="Book club")
    await match(pool, profile, series, 0.6)
    await match(pool, profile, one_off, 0.9)

    ics = (await get_feed(feed, profile)).content
    unfolded = ics.decode().replace("\r\n ", "")
    skipped = datetime.combine(first_tuesday + timedelta(weeks=1), time(19))
    assert f"EXDATE;TZID=Europe/Berlin:{skipped:%Y%m%dT%H%M%S}\r\n" in unfolded
    events = read_everywhere(ics)["events"]
    walks = events[uid(series)]["occurrences"]
    expected = [
        datetime.combine(first_tuesday + timedelta(weeks=n), time(19), BERLIN).astimezone(UTC)
        for n in (0, 2, 3)
    ]
    assert walks == [f"{s:%Y-%m-%dT%H:%M:%SZ}" for s in expected]
    assert len(events[uid(one_off)]["occurrences"]) == 1


def _next_eu_dst_change(after: date) -> date:
    """The last Sunday of March or October after `after` (the EU's clock changes)."""
    for year in (after.year, after.year + 1):
        for month in (3, 10):
            last = date(year, month, 31)
            change = last - timedelta(days=(last.weekday() + 1) % 7)
            if change > after:
                return change
    raise AssertionError("unreachable")


async def test_a_weekly_series_across_a_dst_change_reads_the_same_everywhere(
    api: Client, pool: asyncpg.Pool, settings: Settings, organiser_key: str
) -> None:
    profile = await new_profile(api, max_events_per_week=5)
    change = _next_eu_dst_change(monday(1))
    start = change - timedelta(weeks=3, days=5)  # a Tuesday, three weeks before the change
    if start < monday(1):
        start += timedelta(weeks=1)
    series = await new_event(
        api, organiser_key, start, recurrence="FREQ=WEEKLY;BYDAY=TU;COUNT=8", title="Choir"
    )
    await match(pool, profile, series, 0.8)
    # Read in the series' first week, when the whole series lies in the feed's window.
    served = await load_feed(
        pool, settings, feed_token(profile), now=datetime.combine(start, time(9), BERLIN)
    )
    assert served is not None and served.body is not None
    ics = served.body

    python = parse_with_python(ics, *WINDOW)["events"][uid(series)]["occurrences"]
    require_icaljs()
    icaljs = parse_with_icaljs(ics, *WINDOW)["events"][uid(series)]["occurrences"]
    starts = [datetime.combine(start + timedelta(weeks=n), time(19), BERLIN) for n in range(8)]
    expected = [f"{s.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}" for s in starts]
    assert icaljs == python == expected
    assert len({s[11:] for s in expected}) == 2  # the UTC hour really changes mid-series
