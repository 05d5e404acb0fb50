"""GET /v1/events: search by place (exact geodesic radius), tag, time and intensity, paged
without duplicates or gaps, using the GiST index for the place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from pyproj import Geod

from shared.db.events import SEARCH_IN_BOX, search_box
from tests.factories import create_organiser, post_event

CENTRE = (52.52, 13.405)
_WGS84 = Geod(ellps="WGS84")


def point_at(km: float, bearing: float = 90.0) -> dict[str, float]:
    """The venue `km` away from CENTRE (geodesic, WGS-84) on that bearing."""
    lon, lat, _ = _WGS84.fwd(CENTRE[1], CENTRE[0], bearing, km * 1000)
    return {"name": f"{km} km", "lat": lat, "lon": lon}


def near(radius_km: float = 5.0) -> dict[str, Any]:
    return {"lat": CENTRE[0], "lon": CENTRE[1], "radius_km": radius_km}


async def ids(api: AsyncTestClient[Any], **params: Any) -> list[int]:
    response = await api.get("/v1/events", params=params)
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["items"]]


async def all_pages(api: AsyncTestClient[Any], **params: Any) -> tuple[list[int], int]:
    seen: list[int] = []
    pages, cursor = 0, None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = await api.get("/v1/events", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= params.get("limit", 50)
        seen += [e["id"] for e in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            return seen, pages


@pytest.fixture
async def key(api: AsyncTestClient[Any], admin_headers: dict[str, str]) -> str:
    return (await create_organiser(api, admin_headers))[1]


async def test_radius_is_the_exact_geodesic_distance(api: AsyncTestClient[Any], key: str) -> None:
    inside = await post_event(api, key, venue=point_at(4.99))
    north = await post_event(api, key, venue=point_at(4.99, bearing=0))
    await post_event(api, key, venue=point_at(5.01))
    await post_event(api, key, venue=point_at(5.01, bearing=225))
    online = await post_event(
        api, key, format="online", venue=None, online_url="https://meet.example/x"
    )
    assert sorted(await ids(api, **near(5.0))) == sorted([inside["id"], north["id"]])
    assert online["id"] in await ids(api)  # without a place, online events are found too


async def test_filters_by_tag_intensity_and_time(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool
) -> None:
    december = await post_event(api, key, tags=["board-games", "tea"])
    january = await post_event(
        api,
        key,
        starts_at="2031-01-15T10:00:00",
        ends_at="2031-01-15T12:00:00",
        tags=["walking"],
        group_size=100,
        structure="open",
    )
    march = await post_event(
        api, key, starts_at="2031-03-01T10:00:00", ends_at="2031-03-01T12:00:00", tags=["tea"]
    )
    past = await post_event(
        api, key, starts_at="2031-04-01T10:00:00", ends_at="2031-04-01T12:00:00"
    )
    # An event that has happened (posting one is refused): moved into the past where stored.
    await pool.execute(
        "UPDATE events SET starts_at = '2020-03-01T10:00', ends_at = '2020-03-01T12:00',"
        " starts_at_utc = '2020-03-01T09:00Z', ends_at_utc = '2020-03-01T11:00Z',"
        " over_at = '2020-03-01T11:00Z' WHERE id = $1",
        past["id"],
    )
    assert await ids(api) == [december["id"], january["id"], march["id"]]  # not over, soonest first
    assert await ids(api, tag="tea") == [december["id"], march["id"]]
    empty = await api.get("/v1/events", params={"cursor": ""})  # absent is the first page
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "cursor"
    assert await ids(api, tag=" Board Games ") == [december["id"]]
    assert await ids(api, max_intensity=2) == [december["id"], march["id"]]
    window = {"from": "2031-01-01T00:00:00Z", "to": "2031-02-01T00:00:00+01:00"}
    assert await ids(api, **window) == [january["id"]]
    assert past["id"] in await ids(api, **{"from": "2019-01-01T00:00:00+00:00"})


async def test_pages_have_no_duplicates_or_gaps(api: AsyncTestClient[Any], key: str) -> None:
    created = []
    for i in range(13):
        # Pairs share a start, so the id breaks ties in the keyset.
        day = 1 + i // 2
        created.append(
            await post_event(
                api,
                key,
                starts_at=f"2030-12-{day:02d}T19:00:00",
                ends_at=f"2030-12-{day:02d}T21:00:00",
            )
        )
    everything = await ids(api, limit=100)
    assert sorted(everything) == sorted(e["id"] for e in created)
    seen, pages = await all_pages(api, limit=4)
    assert seen == everything and pages == 4


async def test_geographic_pages_keep_only_what_is_within_the_radius(
    api: AsyncTestClient[Any], key: str
) -> None:
    inside = []
    for i in range(16):
        # Alternate inside (1-4 km) and outside (6-9 km, still in the pre-filter box).
        km = 1 + (i % 4) * 1.0 if i % 2 == 0 else 6 + (i % 4)
        event = await post_event(
            api,
            key,
            venue=point_at(km, bearing=i * 20.0),
            starts_at=f"2030-12-{1 + i:02d}T19:00:00",
            ends_at=f"2030-12-{1 + i:02d}T21:00:00",
        )
        if km <= 5:
            inside.append(event["id"])
    seen, _ = await all_pages(api, limit=3, **near(5.0))
    assert seen == inside


@pytest.mark.parametrize(
    "params, field",
    [
        ({"lat": 52.5, "lon": 13.4}, "radius_km"),
        ({"radius_km": 5}, "lat/lon/radius_km"),
        ({"lat": 100, "lon": 13.4, "radius_km": 5}, "lat"),
        ({"lat": 52.5, "lon": 13.4, "radius_km": 0}, "radius_km"),
        ({"lat": 52.5, "lon": 13.4, "radius_km": 501}, "radius_km"),
        ({"from": "2031-01-01T00:00:00"}, "from"),
        ({"to": "next tuesday"}, "to"),
        ({"max_intensity": 6}, "max_intensity"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"tag": "tea & cake!"}, "tag"),
        ({"cursor": "garbage"}, "cursor"),
    ],
)
async def test_bad_search_parameters_are_422(
    api: AsyncTestClient[Any], params: dict[str, Any], field: str
) -> None:
    response = await api.get("/v1/events", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text


async def test_geographic_search_uses_the_gist_index(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool
) -> None:
    await post_event(api, key)
    async with pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO events (organiser_id, title, starts_at, ends_at, timezone, starts_at_utc,
                ends_at_utc, over_at, format, lat, lon, group_size, structure, noise,
                talking_optional, newcomer_support, intensity)
            SELECT o.id, 'bulk ' || g, t, t + interval '2 hours', 'UTC', t, t + interval '2 hours',
                t + interval '2 hours', 'in_person', 48 + (g % 100) * 0.08, 6 + (g / 100) * 0.2,
                10, 'semi', 'quiet', true, false, 2
            FROM generate_series(1, 5000) AS g,
                LATERAL (SELECT timestamp '2030-01-01' + g * interval '1 hour' AS t) AS times,
                (SELECT min(id) AS id FROM organisers) AS o
            """
        )
        await conn.execute("ANALYZE events")
        box = search_box(52.0, 10.0, 5.0)
        plan = await conn.fetch(
            "EXPLAIN " + SEARCH_IN_BOX,
            datetime(2026, 1, 1, tzinfo=UTC),
            None,
            None,
            None,
            None,
            None,
            51,
            *box,
        )
    text = "\n".join(r[0] for r in plan)
    assert "events_venue_point" in text, text
    assert "Seq Scan on events" not in text, text
    # And the API answers the same search correctly on that table.
    found = await api.get(
        "/v1/events",
        params={"lat": 52.0, "lon": 10.0, "radius_km": 5, "from": "2029-01-01T00:00:00Z"},
    )
    assert found.status_code == 200
    assert [e["title"] for e in found.json()["items"]] == ["bulk 2050"]
    for event in found.json()["items"]:
        assert abs(event["venue"]["lat"] - 52.0) < 0.05 and abs(event["venue"]["lon"] - 10.0) < 0.1
