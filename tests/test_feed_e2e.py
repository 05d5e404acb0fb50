"""End to end: organisers post through the API, the real worker scores, the feed shows it.

No match row is written by hand here: every match comes from the arq worker (drain_queue),
so these tests also hold every worker path to the feed's contract: each write to a
profile's matches bumps `profiles.matches_version`, or the stored render would be served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any

import asyncpg
import icalendar
from litestar.testing import AsyncTestClient

from services.feed.render import load_feed
from services.worker.cron import drop_over
from shared.settings import Settings
from tests.factories import bearer, create_organiser
from tests.test_feed_service import (
    BERLIN,
    feed_path,
    feed_token,
    monday,
    move_event,
    new_event,
    new_profile,
    read_everywhere,
    uid,
)

Client = AsyncTestClient[Any]
Drain = Callable[[], Awaitable[int]]
WEIGHT_FIELDS = (
    "distance",
    "interest",
    "comfort",
    "distance_decay_km",
    "online_score",
    "stretch_penalty",
    "min_score",
)


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
    assert entry["description"].endswith(
        f"Why this was suggested: {stored}\n\n"
        f"Afterwards, say how it went: http://api.test/me/checkin/{event['id']}"
    )

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


async def test_dropping_matches_of_events_over_for_a_week_bumps_their_profiles(
    api: Client, pool: asyncpg.Pool, admin_headers: dict[str, str], drain_queue: Drain
) -> None:
    profile, _, event = await matched_profile(api, admin_headers, drain_queue)
    far = await new_profile(api, home={"lat": 53.55, "lon": 9.99}, radius_km=5)
    await drain_queue()
    # Over for less than a week: its slot in this week's feed stays, so does the match.
    await pool.execute("UPDATE events SET over_at = now() WHERE id = $1", event["id"])
    assert await drop_over({"pool": pool}) == 0
    await pool.execute(
        "UPDATE events SET over_at = now() - interval '8 days 1 minute' WHERE id = $1",
        event["id"],
    )
    before = [await matches_version(pool, p) for p in (profile, far)]

    dropped = await drop_over({"pool": pool})

    assert dropped == 1
    assert await pool.fetchval("SELECT count(*) FROM matches") == 0
    assert [await matches_version(pool, p) for p in (profile, far)] == [before[0] + 1, before[1]]


async def test_an_event_over_this_week_keeps_its_match_and_slot_through_rescores(
    api: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    admin_headers: dict[str, str],
    drain_queue: Drain,
) -> None:
    profile, key, event = await matched_profile(api, admin_headers, drain_queue)
    later = await new_event(api, key, monday(1) + timedelta(days=2), title="Later")
    await drain_queue()
    # This Monday 08:00-10:00, over by Monday noon, holds the week's one slot (it scores as
    # well as the one this Sunday, and has the lower id).
    await move_event(pool, event, datetime.combine(monday(0), time(8)))
    await move_event(pool, later, datetime.combine(monday(0) + timedelta(days=6), time(19)))
    me = bearer(profile["token"])
    patched = await api.patch("/v1/me", json={"max_events_per_week": 1}, headers=me)
    assert patched.status_code == 200, patched.text
    await drain_queue()  # the profile's re-score
    noon = datetime.combine(monday(0), time(12), BERLIN)

    async def shown() -> list[str]:
        await pool.execute("DELETE FROM feed_renders WHERE profile_id = $1", profile["id"])
        served = await load_feed(pool, settings, feed_token(profile), now=noon)
        assert served is not None and served.body is not None
        return [str(e["UID"]) for e in icalendar.Calendar.from_ical(served.body).walk("VEVENT")]

    assert await shown() == [uid(event)], "the ended one-off lost its slot to a later one"

    # A full re-score (a weight change) carries the ended event's match over too.
    current = (await api.get("/v1/admin/weights", headers=admin_headers)).json()
    weights = {k: current[k] for k in WEIGHT_FIELDS}
    saved = await api.put(
        "/v1/admin/weights", json={**weights, "note": "same again"}, headers=admin_headers
    )
    assert saved.status_code == 201, saved.text
    await drain_queue()
    assert await shown() == [uid(event)]
