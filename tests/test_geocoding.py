"""Venue addresses geocoded through geopy's real Nominatim client against a local fake:
cached in PostgreSQL, one request a second across requests, clear 422/503 on failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.api.app import create_app
from shared import geocoding
from shared.settings import Settings
from tests.factories import bearer, create_organiser, event_body
from tests.fake_geocoder import FakeGeocoder

LIBRARY = "Breite Str. 30, 10178 Berlin"
PARK = "Volkspark Friedrichshain, Berlin"


def venue(address: str) -> dict[str, Any]:
    return {"name": "Somewhere", "address": address}


@pytest.fixture
def fake() -> Iterator[FakeGeocoder]:
    with FakeGeocoder({LIBRARY: (52.5145, 13.4016), PARK: (52.5281, 13.4378)}) as server:
        yield server


@pytest.fixture
async def geo_api(
    settings: Settings, db_clean: None, fake: FakeGeocoder
) -> AsyncIterator[AsyncTestClient[Any]]:
    geo = msgspec.structs.replace(settings, geocoder="nominatim", geocoder_url=fake.url)
    async with AsyncTestClient(app=create_app(geo), base_url="http://api.test") as client:
        yield client


async def test_address_without_coordinates_is_geocoded_and_cached(
    geo_api: AsyncTestClient[Any],
    admin_headers: dict[str, str],
    fake: FakeGeocoder,
    pool: asyncpg.Pool,
) -> None:
    _, key = await create_organiser(geo_api, admin_headers)
    first = await geo_api.post(
        "/v1/events", json=event_body(venue=venue(LIBRARY)), headers=bearer(key)
    )
    assert first.status_code == 201, first.text
    assert first.json()["venue"] == {
        "name": "Somewhere",
        "address": LIBRARY,
        "lat": 52.5145,
        "lon": 13.4016,
    }
    assert len(fake.hits) == 1
    assert fake.hits[0][2].startswith("lowkey/0.1 (+")
    # Same address in other case and spacing: answered from the cache, no second request.
    again = await geo_api.post(
        "/v1/events",
        json=event_body(venue=venue("  breite str. 30,   10178 BERLIN ")),
        headers=bearer(key),
    )
    assert again.status_code == 201, again.text
    assert (again.json()["venue"]["lat"], again.json()["venue"]["lon"]) == (52.5145, 13.4016)
    assert len(fake.hits) == 1
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT lat, lon FROM geocode_cache WHERE query = $1", LIBRARY.lower()
        )
    assert (row["lat"], row["lon"]) == (52.5145, 13.4016)


async def test_given_coordinates_are_never_geocoded(
    geo_api: AsyncTestClient[Any], admin_headers: dict[str, str], fake: FakeGeocoder
) -> None:
    _, key = await create_organiser(geo_api, admin_headers)
    response = await geo_api.post("/v1/events", json=event_body(), headers=bearer(key))
    assert response.status_code == 201
    assert fake.hits == []


async def test_two_concurrent_requests_are_a_second_apart(
    geo_api: AsyncTestClient[Any], admin_headers: dict[str, str], fake: FakeGeocoder
) -> None:
    _, key = await create_organiser(geo_api, admin_headers)
    responses = await asyncio.gather(
        geo_api.post("/v1/events", json=event_body(venue=venue(LIBRARY)), headers=bearer(key)),
        geo_api.post("/v1/events", json=event_body(venue=venue(PARK)), headers=bearer(key)),
    )
    assert [r.status_code for r in responses] == [201, 201]
    assert len(fake.hits) == 2
    assert fake.hits[1][0] - fake.hits[0][0] >= 1.0


async def test_unknown_address_is_422_and_cached_as_unknown(
    geo_api: AsyncTestClient[Any], admin_headers: dict[str, str], fake: FakeGeocoder
) -> None:
    _, key = await create_organiser(geo_api, admin_headers)
    for _ in range(2):
        response = await geo_api.post(
            "/v1/events",
            json=event_body(venue=venue("Nowhere Lane 0, Atlantis")),
            headers=bearer(key),
        )
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"] == "venue.address"
    assert len(fake.hits) == 1


async def test_geocoder_error_is_503_with_a_clear_message(
    geo_api: AsyncTestClient[Any],
    admin_headers: dict[str, str],
    fake: FakeGeocoder,
    pool: asyncpg.Pool,
) -> None:
    _, key = await create_organiser(geo_api, admin_headers)
    fake.fail_with = 500
    response = await geo_api.post(
        "/v1/events", json=event_body(venue=venue(LIBRARY)), headers=bearer(key)
    )
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "venue.lat/venue.lon" in response.json()["detail"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
        # A failure is not an answer: nothing cached, so the next try asks again.
        assert await conn.fetchval("SELECT count(*) FROM geocode_cache") == 0


async def test_geocoder_timeout_is_503(
    geo_api: AsyncTestClient[Any],
    admin_headers: dict[str, str],
    fake: FakeGeocoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, key = await create_organiser(geo_api, admin_headers)
    monkeypatch.setattr(geocoding, "TIMEOUT_S", 0.3)
    fake.delay_s = 1.0
    response = await geo_api.post(
        "/v1/events", json=event_body(venue=venue(LIBRARY)), headers=bearer(key)
    )
    assert response.status_code == 503
    assert "geocoder" in response.json()["detail"]


async def test_without_a_geocoder_an_address_alone_is_422(
    api: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    _, key = await create_organiser(api, admin_headers)
    response = await api.post(
        "/v1/events", json=event_body(venue=venue(LIBRARY)), headers=bearer(key)
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "venue.lat/venue.lon: required (no geocoder configured)"


def test_geocoder_url_sets_nominatim_domain_and_scheme(settings: Settings) -> None:
    geo = msgspec.structs.replace(
        settings, geocoder="nominatim", geocoder_url="https://geo.example:8443/nominatim/"
    )
    client = geocoding.geocoder_for(geo)
    assert client.api == "https://geo.example:8443/nominatim/search"
    assert geocoding.normalise_address("  A  b\tC ") == "a b c"


async def test_patch_to_an_address_alone_is_geocoded(
    geo_api: AsyncTestClient[Any], admin_headers: dict[str, str], fake: FakeGeocoder
) -> None:
    _, key = await create_organiser(geo_api, admin_headers)
    created = await geo_api.post("/v1/events", json=event_body(), headers=bearer(key))
    event_id = created.json()["id"]
    response = await geo_api.patch(
        f"/v1/events/{event_id}", json={"venue": venue(PARK)}, headers=bearer(key)
    )
    assert response.status_code == 200, response.text
    assert (response.json()["venue"]["lat"], response.json()["venue"]["lon"]) == (52.5281, 13.4378)
    assert response.json()["sequence"] == 1 and len(fake.hits) == 1
