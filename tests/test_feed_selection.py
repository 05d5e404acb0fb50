"""A stored render is keyed on what it was made from: when a feed's cache key moves on (here
a weight change) and the weekly cap selects what it selected before, the bytes are kept
and nothing is rendered; only a selection that changed is rendered again.

Renders are counted by the feed's own metric (`lowkey_feed_renders_total`), read from the
process's registry: the feed app runs in this process.
"""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from services.feed import render
from shared.db.feeds import rekey_render
from tests.test_api_weights import put_weights
from tests.test_feed_faults import feed_row, uids
from tests.test_feed_service import (
    get_feed,
    match,
    monday,
    new_event,
    new_profile,
    organiser_key,
    uid,
)

Client = AsyncTestClient[Any]
__all__ = ["organiser_key"]  # a fixture these tests use


def renders() -> dict[str, float]:
    return {
        outcome: REGISTRY.get_sample_value("lowkey_feed_renders_total", {"outcome": outcome}) or 0.0
        for outcome in ("rendered", "unchanged")
    }


def moved(before: dict[str, float]) -> dict[str, float]:
    now = renders()
    return {outcome: now[outcome] - before[outcome] for outcome in now}


async def stored(pool: asyncpg.Pool, profile: dict[str, Any]) -> asyncpg.Record:
    row: asyncpg.Record = await pool.fetchrow(
        "SELECT render_key, selection, etag, last_modified FROM feed_renders WHERE profile_id = $1",
        profile["id"],
    )
    return row


async def two_matches(
    api: Client, pool: asyncpg.Pool, organiser_key: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A profile matched to two events in different weeks, at 0.9 and 0.7 under the
    default weights."""
    profile = await new_profile(api)
    best = await new_event(api, organiser_key, monday(1) + timedelta(days=1))
    other = await new_event(api, organiser_key, monday(2) + timedelta(days=1))
    await match(pool, profile, best, 0.9)
    await match(pool, profile, other, 0.7)
    return profile, best, other


async def test_a_weight_change_that_leaves_the_selection_as_it_was_renders_nothing(
    api: Client,
    feed: Client,
    pool: asyncpg.Pool,
    admin_headers: dict[str, str],
    organiser_key: str,
) -> None:
    profile, best, other = await two_matches(api, pool, organiser_key)
    first = await get_feed(feed, profile)
    assert uids(first.content) == {uid(best), uid(other)}
    # Stored an hour back, so a Last-Modified written afresh would show.
    await pool.execute(
        "UPDATE feed_renders SET last_modified = last_modified - interval '1 hour'"
        " WHERE profile_id = $1",
        profile["id"],
    )
    before = await stored(pool, profile)
    counted = renders()

    # Every score changes (0.875 and 0.625), neither match is lost, the order holds.
    await put_weights(api, admin_headers, interest=2.0)
    again = await get_feed(feed, profile)
    assert moved(counted) == {"rendered": 0, "unchanged": 1}
    after = await stored(pool, profile)
    assert after["render_key"] != before["render_key"]
    assert after["selection"] == before["selection"] and after["etag"] == before["etag"]
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["last-modified"] == format_datetime(before["last_modified"], usegmt=True)
    # The key moved on with the bytes: the next poll is a plain cached answer.
    assert (await get_feed(feed, profile)).content == first.content
    assert moved(counted) == {"rendered": 0, "unchanged": 1}


async def test_a_weight_change_that_moves_the_selection_renders_the_feed_again(
    api: Client,
    feed: Client,
    pool: asyncpg.Pool,
    admin_headers: dict[str, str],
    organiser_key: str,
) -> None:
    profile, best, _ = await two_matches(api, pool, organiser_key)
    first = await get_feed(feed, profile)
    counted = renders()

    # 0.7 falls below the new minimum: one entry fewer, rendered again.
    await put_weights(api, admin_headers, min_score=0.8)
    fewer = await get_feed(feed, profile)
    assert moved(counted) == {"rendered": 1, "unchanged": 0}
    assert uids(fewer.content) == {uid(best)}
    assert fewer.headers["etag"] != first.headers["etag"]

    # Back to the minimum before: the first selection again, rendered to the first bytes.
    await put_weights(api, admin_headers, min_score=0.3)
    back = await get_feed(feed, profile)
    assert moved(counted) == {"rendered": 2, "unchanged": 0}
    assert back.content == first.content and back.headers["etag"] == first.headers["etag"]


async def test_a_render_is_rekeyed_only_while_it_is_of_that_selection(
    api: Client, feed: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile, _, _ = await two_matches(api, pool, organiser_key)
    await get_feed(feed, profile)
    held = await stored(pool, profile)
    # A concurrent request stored another selection meanwhile: it is not relabelled.
    assert await rekey_render(pool, profile["id"], render_key="k", selection="other") is None
    assert (await stored(pool, profile))["render_key"] == held["render_key"]
    last_modified = await rekey_render(
        pool, profile["id"], render_key="k", selection=held["selection"]
    )
    assert last_modified == held["last_modified"]
    assert (await stored(pool, profile))["render_key"] == "k"


OPTIONS: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "max_events_per_week": 1,
    "availability": "[]",
    "week": monday(0),
    "public_url": "http://api.test",
}


def selection(rows: list[Any], **options: Any) -> str:
    return render.prepare_feed(rows, **(OPTIONS | options)).selection


def test_the_selection_ignores_scores_that_keep_the_cap_as_it_was() -> None:
    rows = [feed_row(1, score=0.9), feed_row(2, score=0.5, starts_at=feed_row(1).starts_at)]
    assert selection(rows) == selection([feed_row(1, score=0.6), rows[1]])
    # One slot a week: the two are in the same week, so the better one alone is shown.
    swapped = [feed_row(1, score=0.4), feed_row(2, score=0.5)]
    assert selection(swapped) != selection(rows)


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "Another title"},
        {"description": "Bring a friend"},
        {"explanation": "chess club · free"},
        {"sequence": 1},
        {"status": "cancelled"},
        {"venue_name": "The Library"},
        {"online_url": "https://meet.example/y"},
        {"accessibility": ["quiet_room"]},
        {"first_visit": '{"greeter": "Sam meets you at the door"}'},
        {"recurrence": "FREQ=WEEKLY;BYDAY=TU"},
    ],
)
def test_the_selection_follows_everything_an_entry_shows(changes: dict[str, Any]) -> None:
    assert selection([feed_row(1, **changes)]) != selection([feed_row(1)])


def test_the_selection_ignores_the_order_of_what_it_shows() -> None:
    """Entries are written by event id: a weight change that only reorders what is shown
    (here two weeks' matches trading places) leaves the selection as it was."""
    start = feed_row(2).starts_at + timedelta(weeks=1)
    week_after = {"starts_at": start, "ends_at": start + timedelta(hours=2)}
    ranked = [feed_row(1, score=0.9), feed_row(2, score=0.5, **week_after)]
    swapped = [feed_row(1, score=0.5), feed_row(2, score=0.9, **week_after)]
    assert selection(ranked) == selection(swapped)


def test_what_an_entry_does_not_show_leaves_the_selection_as_it_was() -> None:
    # The weekly cap reads these, the render does not: here they leave the cap as it was.
    for changes in ({"accessibility": ["step_free"]}, {"tags": ["chess-club"]}, {"score": 0.3}):
        assert selection([feed_row(1, **changes)]) == selection([feed_row(1)])


@pytest.mark.parametrize(
    "options",
    [
        {"feed_style": "discreet"},
        {"public_url": "https://lowkey.example"},
    ],
)
def test_the_selection_follows_how_the_feed_is_written(options: dict[str, Any]) -> None:
    assert selection([feed_row(1)], **options) != selection([feed_row(1)])


def test_equal_selections_render_to_equal_bytes() -> None:
    """What the digest rests on: the render is a function of the prepared feed alone."""
    one = render.prepare_feed([feed_row(1), feed_row(2)], **OPTIONS)
    two = render.prepare_feed([feed_row(2), feed_row(1)], **OPTIONS)
    assert one.selection == two.selection
    assert render.render_prepared(one) == render.render_prepared(two)
