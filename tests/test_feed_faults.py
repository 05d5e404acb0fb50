"""A feed always answers, whatever is stored: an event the renderer cannot handle is left
out, a feed that cannot be made at all is served from its last good render (or 503 with
Retry-After when it has none), never 500; and what a render reads and writes is bounded.

The broken data is written the only way it could get in, straight into the tables.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import icalendar
import pytest
from litestar.testing import AsyncTestClient

from services.feed import render
from shared.db.feeds import FeedRow
from shared.occurrences import CAP_WEEKS, CappedMatch
from tests.test_feed_service import (
    feed_path,
    match,
    monday,
    new_event,
    new_profile,
    organiser_key,
    uid,
)

Client = AsyncTestClient[Any]
__all__ = ["organiser_key"]  # a fixture these tests use


def uids(ics: bytes) -> set[str]:
    return {str(e["UID"]) for e in icalendar.Calendar.from_ical(ics).walk("VEVENT")}


async def test_an_event_whose_stored_data_breaks_the_rules_is_left_out_of_the_feed(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    good = await new_event(api, organiser_key, monday(1) + timedelta(days=1))
    bad = await new_event(api, organiser_key, monday(1) + timedelta(days=2))
    for event in (good, bad):
        await match(pool, profile, event)
    assert uids((await feed.get(feed_path(profile))).content) == {uid(good), uid(bad)}

    # A zone no reader knows (the API refuses it; older data or a hand edit let it in).
    await pool.execute("UPDATE events SET timezone = 'Mars/Olympus' WHERE id = $1", bad["id"])
    answer = await feed.get(feed_path(profile))
    assert answer.status_code == 200
    assert uids(answer.content) == {uid(good)}


def feed_row(event_id: int, **changes: Any) -> FeedRow:
    start = datetime.combine(monday(1) + timedelta(days=1), time(19))
    fields: dict[str, Any] = {
        "event_id": event_id,
        "score": 0.8,
        "explanation": "board games",
        "title": "Quiet board games",
        "description": "",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "timezone": "Europe/Berlin",
        "recurrence": None,
        "over_at": None,
        "status": "scheduled",
        "sequence": 0,
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
        "format": "online",
        "venue_name": None,
        "venue_address": None,
        "lat": None,
        "lon": None,
        "online_url": "https://meet.example/x",
        "tags": ["board-games"],
        "intensity": 1,
        "group_size": 6,
        "structure": "structured",
        "noise": "quiet",
        "talking_optional": True,
        "newcomer_support": True,
    }
    return FeedRow(**(fields | changes))


def test_a_row_the_renderer_fails_on_is_left_out_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever the failure (here a row no query could return: a naive updated_at, which
    no `timestamptz` column gives), the other rows still make their feed."""
    options: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "max_events_per_week": 3,
        "availability": "[]",
        "week": monday(0),
        "public_url": "http://api.test",
    }
    rows = [feed_row(1), feed_row(2, updated_at=datetime(2026, 1, 1)), feed_row(3)]
    with pytest.raises(Exception):  # noqa: B017 - any failure of the whole render
        render.build_feed(rows, **options)
    with caplog.at_level(logging.ERROR, logger="lowkey.feed"):
        made = render.make_feed(rows, stored_selection=None, **options)
        render.make_feed(rows, stored_selection=None, **options)
    assert made.body is not None
    assert uids(made.body) == {"event-1@lowkey", "event-3@lowkey"}
    left_out = [r for r in caplog.records if "left out" in r.getMessage()]
    assert len(left_out) == 1 and left_out[0].__dict__["event_id"] == 2


async def test_a_feed_that_cannot_be_made_answers_its_last_good_render(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(api)
    event = await new_event(api, organiser_key, monday(1) + timedelta(days=1))
    await match(pool, profile, event)
    first = await feed.get(feed_path(profile))
    assert first.status_code == 200 and uids(first.content) == {uid(event)}

    # Nothing can be rendered for a profile in a zone no reader knows.
    await pool.execute(
        "UPDATE profiles SET timezone = 'Mars/Olympus', updated_at = now() WHERE id = $1",
        profile["id"],
    )
    again = await feed.get(feed_path(profile))
    assert again.status_code == 200
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == "text/calendar; charset=utf-8"
    revalidated = await feed.get(
        feed_path(profile), headers={"If-None-Match": first.headers["etag"]}
    )
    assert revalidated.status_code == 304


async def test_a_feed_never_rendered_that_cannot_be_made_is_503_with_retry_after(
    api: Client, feed: Client, pool: asyncpg.Pool
) -> None:
    profile = await new_profile(api)
    await pool.execute("UPDATE profiles SET timezone = 'Mars/Olympus' WHERE id = $1", profile["id"])
    answer = await feed.get(feed_path(profile))
    assert answer.status_code == 503
    assert int(answer.headers["retry-after"]) > 0
    assert answer.headers["content-type"] == "application/problem+json"
    assert (await feed.head(feed_path(profile))).status_code == 503


async def test_a_profile_matched_to_every_event_gets_a_feed_within_its_weekly_slots(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    """Hundreds of weekly series at the same hour: the feed holds no more entries than its
    weeks have slots, and answers within a second or two."""
    profile = await new_profile(api, max_events_per_week=2)
    first = await new_event(
        api, organiser_key, monday(0) + timedelta(days=3), recurrence="FREQ=WEEKLY"
    )
    # Copies of the series, written as the API writes them, all matched.
    await pool.execute(
        "INSERT INTO events (organiser_id, title, description, starts_at, ends_at, timezone,"
        " starts_at_utc, ends_at_utc, over_at, recurrence, format, venue_name, venue_address,"
        " lat, lon, online_url, tags, group_size, structure, noise, talking_optional,"
        " newcomer_support, cost_cents, currency, accessibility, languages, intensity)"
        " SELECT organiser_id, title || ' ' || n, description, starts_at, ends_at, timezone,"
        " starts_at_utc, ends_at_utc, over_at, recurrence, format, venue_name, venue_address,"
        " lat, lon, online_url, tags, group_size, structure, noise, talking_optional,"
        " newcomer_support, cost_cents, currency, accessibility, languages, intensity"
        " FROM events, generate_series(1, 400) n WHERE id = $1",
        first["id"],
    )
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM events ORDER BY id")]
    for n, event_id in enumerate(ids):
        await match(pool, profile, {"id": event_id}, score=0.9 - n / 10_000)
    started = datetime.now(UTC)
    answer = await feed.get(feed_path(profile))
    assert answer.status_code == 200
    assert datetime.now(UTC) - started < timedelta(seconds=3)
    assert 1 <= len(uids(answer.content)) <= CAP_WEEKS * 2


def capped(event_id: int, exdates: int = 0) -> CappedMatch:
    start = datetime(2030, 1, 7, 19)
    return CappedMatch(
        event_id=event_id,
        starts_at=start,
        shown=(start.replace(tzinfo=UTC),),
        exdates=tuple(start + timedelta(days=d + 1) for d in range(exdates)),
    )


class Row:
    def __init__(self, status: str) -> None:
        self.status = status


def test_entries_and_exdates_are_bounded_whatever_the_cap_was_given() -> None:
    picks = [capped(i) for i in range(1, 40)] + [capped(99, exdates=render.MAX_EXDATES + 1)]
    rows: Any = {i: Row("scheduled") for i in range(1, 40)} | {99: Row("scheduled")}
    kept = render._bounded(picks, rows, 1)
    assert [m.event_id for m in kept] == list(range(1, CAP_WEEKS + 1))  # the best, in order
    within = [capped(7, exdates=render.MAX_EXDATES)]
    assert render._bounded(within, {7: Row("scheduled")}, 1) == within  # type: ignore[dict-item]
