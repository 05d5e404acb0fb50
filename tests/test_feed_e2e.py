"""End to end: organisers post through the API, the real worker scores, the feed shows it.

No match row is written by hand here: every match comes from the arq worker (drain_queue),
so these tests also hold every worker path to the feed's contract: each write to a
profile's matches bumps `profiles.matches_version`, or the stored render would be served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from services.worker.cron import drop_over
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
        "SELECT x.text FROM matches m JOIN match_explanations x ON x.id = m.explanation_id"
        " WHERE m.profile_id = $1 AND m.event_id = $2",
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


async def matched_profile(api: Client, admin_headers: dict[str, str], drain: Drain) -> Any:
    """A profile, an organiser's key and an event the worker matched, the feed rendered."""
    profile = await new_profile(
        api, interests={"board-games": 0.9}, comfort_level=3, languages=["en"], radius_km=10
    )
    _, key = await create_organiser(api, admin_headers)
    event = await new_event(api, key, monday(1) + timedelta(days=1))
    await drain()
    return profile, key, event


async def matches_version(pool: asyncpg.Pool, profile: dict[str, Any]) -> int:
    version: int = await pool.fetchval(
        "SELECT matches_version FROM profiles WHERE id = $1", profile["id"]
    )
    return version


async def test_hiding_and_unhiding_reach_the_feed_through_the_worker(
    api: Client,
    feed: Client,
    pool: asyncpg.Pool,
    admin_headers: dict[str, str],
    drain_queue: Drain,
) -> None:
    profile, _, event = await matched_profile(api, admin_headers, drain_queue)
    assert uid(event) in await feed_events(feed, profile)
    me = bearer(profile["token"])

    # Hiding changes nothing of the profile row itself: only score_profile's bump does.
    hidden = await api.post(f"/v1/me/hidden/{event['id']}", headers=me)
    assert hidden.status_code == 204, hidden.text
    await drain_queue()
    assert await feed_events(feed, profile) == {}

    shown = await api.delete(f"/v1/me/hidden/{event['id']}", headers=me)
    assert shown.status_code == 204, shown.text
    await drain_queue()
    assert uid(event) in await feed_events(feed, profile)


async def test_a_weight_change_rescored_in_chunks_reaches_the_feed(
    api: Client,
    feed: Client,
    pool: asyncpg.Pool,
    admin_headers: dict[str, str],
    drain_queue: Drain,
) -> None:
    profile, _, event = await matched_profile(api, admin_headers, drain_queue)
    before = await feed.get(feed_path(profile))
    assert uid(event) in read_everywhere(before.content)["events"]
    generation = await pool.fetchval("SELECT generation FROM match_generation")

    # No match reaches a minimum score of 1: the full re-score drops them all.
    current = (await api.get("/v1/admin/weights", headers=admin_headers)).json()
    weights = {
        k: current[k]
        for k in (
            "distance",
            "interest",
            "comfort",
            "distance_decay_km",
            "online_score",
            "stretch_penalty",
        )
    }
    saved = await api.put(
        "/v1/admin/weights",
        json={**weights, "min_score": 1.0, "note": "nothing passes"},
        headers=admin_headers,
    )
    assert saved.status_code == 201, saved.text
    await drain_queue()
    # The swap of the re-score's table moves every feed's cache key on at once.
    assert await pool.fetchval("SELECT generation FROM match_generation") == generation + 1
    after = await feed.get(feed_path(profile), headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert read_everywhere(after.content)["events"] == {}


async def test_dropping_matches_of_events_over_bumps_their_profiles(
    api: Client, pool: asyncpg.Pool, admin_headers: dict[str, str], drain_queue: Drain
) -> None:
    profile, _, event = await matched_profile(api, admin_headers, drain_queue)
    far = await new_profile(api, home={"lat": 53.55, "lon": 9.99}, radius_km=5)
    await drain_queue()
    await pool.execute("UPDATE events SET over_at = now() WHERE id = $1", event["id"])
    before = [await matches_version(pool, p) for p in (profile, far)]

    dropped = await drop_over({"pool": pool})

    assert dropped == 1
    assert await pool.fetchval("SELECT count(*) FROM matches") == 0
    assert [await matches_version(pool, p) for p in (profile, far)] == [before[0] + 1, before[1]]


async def test_a_render_goes_stale_when_its_first_event_is_over(
    api: Client,
    feed: Client,
    pool: asyncpg.Pool,
    admin_headers: dict[str, str],
    drain_queue: Drain,
) -> None:
    profile, key, event = await matched_profile(api, admin_headers, drain_queue)
    later = await new_event(api, key, monday(2))
    await drain_queue()
    assert sorted(await feed_events(feed, profile)) == sorted([uid(event), uid(later)])
    version = await matches_version(pool, profile)

    # The render holds until the first of its events is over.
    fresh_until, first_end = await pool.fetchrow(
        "SELECT r.fresh_until, e.over_at FROM feed_renders r, events e"
        " WHERE r.profile_id = $1 AND e.id = $2",
        profile["id"],
        event["id"],
    )
    assert fresh_until == first_end

    # Time passes until that end, and no writer touches anything (triggers off): as if
    # the event had been made to end now, and the render made before with that end.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        ended = await conn.fetchval(
            "UPDATE events SET over_at = now() WHERE id = $1 RETURNING over_at", event["id"]
        )
        await conn.execute(
            "UPDATE feed_renders SET fresh_until = $2 WHERE profile_id = $1", profile["id"], ended
        )
    assert await matches_version(pool, profile) == version

    assert sorted(await feed_events(feed, profile)) == [uid(later)]
