"""Support (SPEC "Support" and "Matching"), end to end on the real PostgreSQL, Redis and
worker: `support` on events and `seeking` on profiles from one vocabulary, the support
component counted only when both are said, the `support` weight, the API's plain words
(never in the feed).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from litestar.testing import AsyncTestClient

from tests.factories import bearer, create_organiser, event_body, post_event
from tests.test_matching_e2e import WEIGHTS_V1, my_matches, new_profile

Client = AsyncTestClient[Any]
Drain = Callable[[], Awaitable[int]]


@pytest.fixture
async def key(api: Client, admin_headers: dict[str, str]) -> str:
    return (await create_organiser(api, admin_headers))[1]


def only(page: dict[str, Any]) -> dict[str, Any]:
    assert len(page["items"]) == 1, page
    match: dict[str, Any] = page["items"][0]
    return match


async def test_an_event_says_its_support_and_unknown_kinds_are_refused(
    api: Client, key: str
) -> None:
    event = await post_event(api, key, support=["companionship", "emotional", "companionship"])
    assert event["support"] == ["companionship", "emotional"]  # once each, in order given
    assert (await api.get(f"/v1/events/{event['id']}")).json()["support"] == event["support"]
    page = (await api.get(f"/events/{event['id']}")).text
    assert "Support here" in page and "a listening ear, company" in page
    bad = await api.post(
        "/v1/events", json={**event_body(), "support": ["hugs"]}, headers=bearer(key)
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in bad.json()["errors"]] == ["support[0]"]
    changed = await api.patch(
        f"/v1/events/{event['id']}", json={"support": ["practical"]}, headers=bearer(key)
    )
    assert changed.status_code == 200
    assert changed.json()["support"] == ["practical"]
    assert changed.json()["sequence"] == event["sequence"] + 1


async def test_support_counts_only_when_sought_and_declared_and_the_api_names_it(
    api: Client, feed: Client, key: str, drain_queue: Drain, admin_headers: dict[str, str]
) -> None:
    await post_event(api, key, support=["companionship", "informational"])
    seeker = await new_profile(api, seeking=["companionship", "emotional"])
    plain = await new_profile(api)
    await drain_queue()
    mine, theirs = only(await my_matches(api, seeker)), only(await my_matches(api, plain))
    assert mine["components"]["support"] == 0.5
    assert theirs["components"]["support"] is None
    assert mine["explanation"].endswith(" · company on offer")
    assert "on offer" not in theirs["explanation"]
    c = theirs["components"]
    # Not counted: exactly the three-part mean, as before support existed.
    assert theirs["score"] == pytest.approx(
        (c["distance"] + c["interest"] + c["comfort"]) / 3, abs=1e-4
    )
    m = mine["components"]
    assert mine["score"] == pytest.approx(
        (m["distance"] + m["interest"] + m["comfort"] + 0.5) / 4, abs=1e-4
    )
    # The feed says nothing of what the user seeks.
    body = (await feed.get(urlparse(seeker["feed_url"]).path)).text
    assert "company" not in body and "listening" not in body

    # The support weight moves only the pairs it counts in, at once.
    heavier = await api.put(
        "/v1/admin/weights",
        json={**WEIGHTS_V1, "support": 3, "note": "support"},
        headers=admin_headers,
    )
    assert heavier.status_code == 201 and heavier.json()["support"] == 3
    mine_now, theirs_now = only(await my_matches(api, seeker)), only(await my_matches(api, plain))
    assert theirs_now["score"] == theirs["score"]
    assert mine_now["score"] == pytest.approx(
        (m["distance"] + m["interest"] + m["comfort"] + 3 * 0.5) / 6, abs=1e-4
    )
    # A PUT that leaves the later weights out keeps the active version's.
    kept = await api.put(
        "/v1/admin/weights", json={**WEIGHTS_V1, "note": "same support"}, headers=admin_headers
    )
    assert kept.json()["support"] == 3 and kept.json()["together_bonus"] == 0.1

    # Seeking changed by PATCH: re-scored with the profile.
    patched = await api.patch(
        "/v1/me", json={"seeking": ["informational"]}, headers=bearer(seeker["token"])
    )
    assert patched.status_code == 200 and patched.json()["seeking"] == ["informational"]
    await drain_queue()
    again = only(await my_matches(api, seeker))
    assert again["components"]["support"] == 1.0
    assert again["explanation"].endswith(" · advice on offer")
    assert not math.isclose(again["score"], mine_now["score"])


async def test_seeking_is_validated_and_exported(
    api: Client,
) -> None:
    bad = await api.post(
        "/v1/profiles",
        json={
            "home": {"lat": 52.52, "lon": 13.40},
            "radius_km": 5,
            "comfort_level": 3,
            "seeking": ["emotional", "therapy"],
        },
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["seeking[1]"]
    user = await new_profile(api, seeking=["practical"])
    assert user["seeking"] == ["practical"]
    export = (await api.get("/v1/me/export", headers=bearer(user["token"]))).json()
    assert export["profile"]["seeking"] == ["practical"]
