"""The SPEC's matching rules end to end: the API writes, a real arq worker scores, and
GET /v1/me/matches shows the result, which must equal a from-scratch computation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from shared.geodesy import distance_km
from tests.factories import bearer, create_organiser, post_event
from tests.test_worker_jobs import assert_same_matches, expected_matches, stored_matches

Client = AsyncTestClient[Any]
Drain = Callable[[], Awaitable[int]]
HOME = {"lat": 52.52, "lon": 13.405}  # Alexanderplatz; the factory venue is ~0.7 km away
WEIGHTS = {
    "distance": 2.0,
    "interest": 1.0,
    "comfort": 0.5,
    "distance_decay_km": 3.0,
    "online_score": 0.5,
    "stretch_penalty": 0.3,
    "min_score": 0.2,
}
# The SPEC's version 1.
WEIGHTS_V1 = {
    "distance": 1.0,
    "interest": 1.0,
    "comfort": 1.0,
    "distance_decay_km": 5.0,
    "online_score": 0.6,
    "stretch_penalty": 0.4,
    "min_score": 0.3,
}


async def new_profile(api: Client, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "home": HOME,
        "radius_km": 5,
        "interests": {"board-games": 0.9, "walking": 0.5},
        "comfort_level": 2,
        "formats": ["in_person"],
        "timezone": "Europe/Berlin",
        **overrides,
    }
    response = await api.post("/v1/profiles", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def my_matches(api: Client, profile: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await api.get("/v1/me/matches", params=params, headers=bearer(profile["token"]))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def matches_of(api: Client, profile: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await my_matches(api, profile))["items"]
    return [{"event_id": m["event"]["id"], "score": m["score"]} for m in items]


async def matched_ids(api: Client, profile: dict[str, Any]) -> list[int]:
    return [m["event"]["id"] for m in (await my_matches(api, profile))["items"]]


@pytest.fixture
async def key(api: Client, admin_headers: dict[str, str]) -> str:
    return (await create_organiser(api, admin_headers))[1]


async def test_posted_event_is_matched_with_the_api_shape(
    api: Client, key: str, drain_queue: Drain, pool: asyncpg.Pool
) -> None:
    user = await new_profile(api)
    too_far = await new_profile(api, home={"lat": 52.60, "lon": 13.405})
    event = await post_event(api, key)
    assert await drain_queue() >= 1
    page = await my_matches(api, user)
    assert page["next"] is None and len(page["items"]) == 1
    match = page["items"][0]
    assert match["event"] == (await api.get(f"/v1/events/{event['id']}")).json()
    km = distance_km(HOME["lat"], HOME["lon"], 52.5145, 13.4016)
    # Shown to 10 m (the home point itself is kept to ~100 m).
    assert match["distance_km"] == pytest.approx(km, abs=0.005)
    assert match["distance_km"] == round(match["distance_km"], 2)
    assert set(match["components"]) == {"distance", "interest", "comfort", "support"}
    assert match["components"]["support"] is None  # nothing sought, nothing declared
    assert match["components"]["interest"] == pytest.approx(0.9, abs=1e-6)
    assert match["explanation"] == (
        f"{km:.1f} km away · board games · small, quiet, structured group, talking optional,"
        " newcomers welcomed · free"
    )
    assert (await my_matches(api, too_far))["items"] == []
    assert_same_matches(await stored_matches(pool), await expected_matches(pool))


async def test_edit_rescores_and_cancel_keeps_the_match_flagged(
    api: Client, key: str, drain_queue: Drain
) -> None:
    user = await new_profile(api)
    event = await post_event(api, key)
    await drain_queue()
    before = (await my_matches(api, user))["items"][0]
    changed = await api.patch(
        f"/v1/events/{event['id']}",
        json={"group_size": 20, "talking_optional": False},
        headers=bearer(key),
    )  # intensity 1 -> 2: still within comfort 2, but a lower comfort score
    assert changed.status_code == 200 and changed.json()["intensity"] == 2
    await drain_queue()
    after = (await my_matches(api, user))["items"][0]
    assert after["components"]["comfort"] == pytest.approx(1.0)
    assert before["components"]["comfort"] == pytest.approx(0.9)
    assert after["event"]["sequence"] == 1 and "mid-sized" in after["explanation"]

    cancelled = await api.post(f"/v1/events/{event['id']}/cancel", headers=bearer(key))
    assert cancelled.status_code == 200
    await drain_queue()
    kept = (await my_matches(api, user))["items"]
    assert [m["event"]["status"] for m in kept] == ["cancelled"]
    # A cancelled event is never newly matched: a new neighbour does not get it.
    newcomer = await new_profile(api)
    await drain_queue()
    assert await matched_ids(api, newcomer) == []


async def test_edit_that_breaks_eligibility_removes_the_match(
    api: Client, key: str, drain_queue: Drain
) -> None:
    user = await new_profile(api)
    event = await post_event(api, key)
    await drain_queue()
    assert await matched_ids(api, user) == [event["id"]]
    await api.patch(f"/v1/events/{event['id']}", json={"tags": ["karaoke"]}, headers=bearer(key))
    await drain_queue()
    assert await matched_ids(api, user) == []


async def test_delete_and_hide_remove_matches_and_unhide_restores(
    api: Client, key: str, drain_queue: Drain
) -> None:
    user = await new_profile(api)
    first = await post_event(api, key)
    second = await post_event(api, key, title="Walk and talk", tags=["walking"])
    await drain_queue()
    assert sorted(await matched_ids(api, user)) == [first["id"], second["id"]]
    assert (await api.delete(f"/v1/events/{first['id']}", headers=bearer(key))).status_code == 204
    await drain_queue()
    assert await matched_ids(api, user) == [second["id"]]
    hidden = await api.post(f"/v1/me/hidden/{second['id']}", headers=bearer(user["token"]))
    assert hidden.status_code == 204
    await drain_queue()
    assert await matched_ids(api, user) == []
    await api.delete(f"/v1/me/hidden/{second['id']}", headers=bearer(user["token"]))
    await drain_queue()
    assert await matched_ids(api, user) == [second["id"]]


async def test_profile_update_rescores_and_online_matches_carry_no_distance(
    api: Client, key: str, drain_queue: Drain
) -> None:
    user = await new_profile(api)
    near = await post_event(api, key)
    online = await post_event(
        api, key, format="online", venue=None, online_url="https://meet.example/board"
    )
    await drain_queue()
    assert await matched_ids(api, user) == [near["id"]]  # in person only
    moved = await api.patch(
        "/v1/me",
        json={"home": {"lat": 48.14, "lon": 11.58}, "formats": ["in_person", "online"]},
        headers=bearer(user["token"]),
    )
    assert moved.status_code == 200
    await drain_queue()
    items = (await my_matches(api, user))["items"]
    assert [m["event"]["id"] for m in items] == [online["id"]]
    assert items[0]["distance_km"] is None and items[0]["explanation"].startswith("online · ")


async def test_matches_are_best_first_and_paged(api: Client, key: str, drain_queue: Drain) -> None:
    user = await new_profile(api, radius_km=20)
    for lat in (52.515, 52.55, 52.60, 52.53):
        await post_event(api, key, venue={"name": "Hall", "lat": lat, "lon": 13.40})
    await drain_queue()
    everything = (await my_matches(api, user))["items"]
    scores = [m["score"] for m in everything]
    assert len(scores) == 4 and scores == sorted(scores, reverse=True)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = await my_matches(api, user, **params)
        seen += [m["event"]["id"] for m in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [m["event"]["id"] for m in everything]
    bad = await api.get("/v1/me/matches?cursor=%%%", headers=bearer(user["token"]))
    assert bad.status_code == 422


async def test_only_a_profile_token_reads_matches(
    api: Client, key: str, admin_headers: dict[str, str]
) -> None:
    assert (await api.get("/v1/me/matches")).status_code == 401
    assert (await api.get("/v1/me/matches", headers=bearer(key))).status_code == 403
    assert (await api.get("/v1/me/matches", headers=admin_headers)).status_code == 403


async def test_a_weight_change_is_live_at_once_writes_no_row_and_rollback_restores_it(
    api: Client, key: str, drain_queue: Drain, pool: asyncpg.Pool, admin_headers: dict[str, str]
) -> None:
    users = [
        await new_profile(api, home={"lat": 52.50 + i * 0.01, "lon": 13.40}, radius_km=4 + i)
        for i in range(6)
    ]
    await new_profile(api, formats=["online"], interests={})
    for i in range(5):
        await post_event(
            api,
            key,
            venue={"name": "Hall", "lat": 52.51 + i * 0.008, "lon": 13.41},
            tags=["board-games", "walking"][: 1 + i % 2],
            group_size=4 + 5 * i,
        )
    await post_event(api, key, format="hybrid", online_url="https://meet.example/h")
    await drain_queue()
    original = await stored_matches(pool)
    assert len(original) > 10
    assert {m["weight_version"] for m in original.values()} == {1}
    assert_same_matches(original, await expected_matches(pool))

    rows = await pool.fetch("SELECT * FROM matches ORDER BY profile_id, event_id")
    before = [(m["event_id"], m["score"]) for m in await matches_of(api, users[0])]
    saved = await api.put(
        "/v1/admin/weights", json=WEIGHTS | {"note": "distance first"}, headers=admin_headers
    )
    assert saved.status_code == 201, saved.text
    # No job, no row written: the next read weighs the stored parts with version 2.
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE done_at IS NULL") == 0
    assert await pool.fetch("SELECT * FROM matches ORDER BY profile_id, event_id") == rows
    reweighed = await stored_matches(pool)
    assert {m["weight_version"] for m in reweighed.values()} == {2}
    assert_same_matches(reweighed, await expected_matches(pool))
    assert reweighed != original
    after = [(m["event_id"], m["score"]) for m in await matches_of(api, users[0])]
    assert after != before

    rolled = await api.post("/v1/admin/weights/1/activate", headers=admin_headers)
    assert rolled.status_code == 200
    assert_same_matches(await stored_matches(pool), original)
    assert [(m["event_id"], m["score"]) for m in await matches_of(api, users[0])] == before
    assert len(await matched_ids(api, users[0])) >= 1


async def test_export_reads_as_a_person_would_each_match_titled_dated_and_explained(
    api: Client, key: str, drain_queue: Drain
) -> None:
    user = await new_profile(api)
    event = await post_event(api, key, title="Quiet board games")
    await drain_queue()
    (match,) = (await my_matches(api, user))["items"]
    response = await api.get("/v1/me/export", headers=bearer(user["token"]))
    assert response.status_code == 200, response.text
    (exported,) = response.json()["matches"]
    assert exported["event_id"] == event["id"] and exported["title"] == "Quiet board games"
    assert exported["next_starts_at"] == event["next_starts_at"] is not None
    assert exported["timezone"] == event["timezone"]
    # The same words and numbers as the matches list: no float4 noise.
    assert exported["explanation"] == match["explanation"]
    assert exported["explanation"].split(" · ")[0].endswith("km away")
    assert exported["score"] == match["score"] == round(exported["score"], 4)
    assert exported["components"] == match["components"]
    assert exported["distance_km"] == match["distance_km"]


async def test_min_score_raised_hides_matches_and_lowered_brings_them_back_at_once(
    api: Client, key: str, drain_queue: Drain, pool: asyncpg.Pool, admin_headers: dict[str, str]
) -> None:
    user = await new_profile(api, home={"lat": 52.50, "lon": 13.40}, radius_km=12)
    for i in range(6):
        await post_event(
            api,
            key,
            venue={"name": "Hall", "lat": 52.50 + i * 0.012, "lon": 13.40},
            group_size=4 + 6 * i,
        )
    await drain_queue()
    shown = await matches_of(api, user)
    scores = sorted(m["score"] for m in shown)
    assert len(scores) >= 4 and scores[0] < scores[-1]
    rows = await pool.fetchval("SELECT count(*) FROM matches")
    cut = (scores[1] + scores[2]) / 2  # between the second and third lowest
    raised = await api.put(
        "/v1/admin/weights",
        json={**WEIGHTS_V1, "min_score": round(cut, 4), "note": "fewer"},
        headers=admin_headers,
    )
    assert raised.status_code == 201, raised.text
    fewer = await matches_of(api, user)
    assert sorted(m["score"] for m in fewer) == scores[2:]
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE done_at IS NULL") == 0
    assert await pool.fetchval("SELECT count(*) FROM matches") == rows  # nothing deleted
    lowered = await api.post("/v1/admin/weights/1/activate", headers=admin_headers)
    assert lowered.status_code == 200
    assert await matches_of(api, user) == shown
