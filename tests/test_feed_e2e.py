"""End to end: organisers post through the API, the real worker scores, the feed shows it.

No row is written by hand here: every match comes from the arq worker (drain_queue).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from tests.factories import bearer, create_organiser
from tests.test_feed_service import feed_path, monday, new_event, new_profile, read_everywhere, uid

Client = AsyncTestClient[Any]
Drain = Callable[[], Awaitable[int]]


async def feed_events(feed: Client, profile: dict[str, Any]) -> dict[str, Any]:
    response = await feed.get(feed_path(profile))
    assert response.status_code == 200
    assert b" km" not in response.content  # the stored explanation carries no distance
    events: dict[str, Any] = read_everywhere(response.content)["events"]
    return events


async def test_posted_event_reaches_the_feed_through_the_worker(
    api: Client,
    feed: Client,
    pool: asyncpg.Pool,
    admin_headers: dict[str, str],
    drain_queue: Drain,
) -> None:
    profile = await new_profile(
        api,
        interests={"board-games": 0.9},
        comfort_level=3,
        languages=["en"],
        radius_km=10,
        home={"lat": 52.52, "lon": 13.405},
    )
    await drain_queue()
    assert await feed_events(feed, profile) == {}

    _, key = await create_organiser(api, admin_headers)
    event = await new_event(api, key, monday(1) + timedelta(days=2))
    assert await drain_queue() >= 1
    stored = await pool.fetchval(
        "SELECT explanation FROM matches WHERE profile_id = $1 AND event_id = $2",
        profile["id"],
        event["id"],
    )
    assert stored is not None, "the worker did not match the event"
    entry = (await feed_events(feed, profile))[uid(event)]
    assert entry["summary"] == "Quiet board games"
    assert entry["description"].endswith("Why this was suggested: " + stored)

    patched = await api.patch(
        f"/v1/events/{event['id']}", json={"title": "Quieter board games"}, headers=bearer(key)
    )
    assert patched.status_code == 200, patched.text
    await drain_queue()
    updated = (await feed_events(feed, profile))[uid(event)]
    assert updated["summary"] == "Quieter board games"
    assert updated["sequence"] == entry["sequence"] + 1

    cancelled = await api.post(f"/v1/events/{event['id']}/cancel", headers=bearer(key))
    assert cancelled.status_code == 200, cancelled.text
    await drain_queue()
    assert (await feed_events(feed, profile))[uid(event)]["status"] == "CANCELLED"

    deleted = await api.delete(f"/v1/events/{event['id']}", headers=bearer(key))
    assert deleted.status_code == 204, deleted.text
    await drain_queue()
    assert await feed_events(feed, profile) == {}


async def test_a_profile_change_rescored_by_the_worker_changes_the_feed(
    api: Client,
    feed: Client,
    admin_headers: dict[str, str],
    drain_queue: Drain,
) -> None:
    profile = await new_profile(
        api, interests={"board-games": 0.9}, comfort_level=3, languages=["en"], radius_km=10
    )
    _, key = await create_organiser(api, admin_headers)
    event = await new_event(api, key, monday(2))
    await drain_queue()
    before = await feed.get(feed_path(profile))
    assert uid(event) in read_everywhere(before.content)["events"]

    # Interests elsewhere: the event no longer shares a tag, so the worker drops the match.
    patched = await api.patch(
        "/v1/me", json={"interests": {"knitting": 1.0}}, headers=bearer(profile["token"])
    )
    assert patched.status_code == 200, patched.text
    await drain_queue()
    after = await feed.get(feed_path(profile), headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert read_everywhere(after.content)["events"] == {}
