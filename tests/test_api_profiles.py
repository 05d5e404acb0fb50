"""POST /v1/profiles: validation, what is stored (and what is not), the token and feed URL."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from shared.crypto import token_hash, unseal
from shared.settings import Settings


def profile_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "display_name": "Sam",
        "home": {"lat": 52.520008, "lon": 13.404954},
        "radius_km": 5,
        "interests": {"Board Games": 0.9, "walking": 0.4},
        "comfort_level": 2,
        "open_to_stretch": True,
        "formats": ["in_person", "online"],
        "max_cost_cents": 1000,
        "currency": "EUR",
        "languages": ["en", "de"],
        "accessibility_needs": ["step_free"],
        "availability": [{"days": ["tue", "thu"], "from": "17:00", "to": "22:00"}],
        "timezone": "Europe/Berlin",
        "max_events_per_week": 2,
    }
    body.update(overrides)
    return body


async def create(api: AsyncTestClient[Any], **overrides: Any) -> dict[str, Any]:
    resp = await api.post("/v1/profiles", json=profile_body(**overrides))
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


async def test_create_returns_profile_token_and_feed_urls(
    api: AsyncTestClient[Any], settings: Settings
) -> None:
    data = await create(api)
    assert data["token"].startswith("lk_usr_")
    assert data["feed_url"].startswith(f"{settings.feed_base_url}/feeds/")
    assert data["feed_url"].endswith(".ics")
    assert data["webcal_url"] == "webcal://" + data["feed_url"].removeprefix("http://")
    assert data["interests"] == {"board-games": 0.9, "walking": 0.4}
    assert data["home"] == {"lat": 52.52, "lon": 13.405}
    assert data["availability"] == [{"days": ["tue", "thu"], "from": "17:00", "to": "22:00"}]
    assert data["comfort_level"] == 2 and data["max_events_per_week"] == 2
    feed_token = data["feed_url"].rsplit("/", 1)[1].removesuffix(".ics")
    assert len(feed_token) >= 22  # ≥ 128 bits, URL-safe base64


async def test_only_hashes_and_sealed_feed_token_are_stored(
    api: AsyncTestClient[Any], settings: Settings, pool: asyncpg.Pool
) -> None:
    data = await create(api)
    assert settings.secret_key
    feed_token = data["feed_url"].rsplit("/", 1)[1].removesuffix(".ics")
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM profiles WHERE id = $1", data["id"])
    assert row["token_hash"] == token_hash(settings.secret_key, data["token"], purpose="profile")
    assert row["feed_token_hash"] == token_hash(settings.secret_key, feed_token, purpose="feed")
    # The database plus the secret key alone cannot open the sealed feed token ...
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in dict(row).values())
    assert data["token"].encode() not in stored and feed_token.encode() not in stored
    # ... the profile token can.
    opened = unseal(
        row["feed_token_sealed"], settings.secret_key, data["token"], purpose="feed-token"
    )
    assert opened.decode() == feed_token
    assert (row["home_lat"], row["home_lon"]) == (52.52, 13.405)


async def test_create_writes_outbox_row(api: AsyncTestClient[Any], pool: asyncpg.Pool) -> None:
    data = await create(api)
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT kind, subject_id FROM outbox")
    assert [(r["kind"], r["subject_id"]) for r in rows] == [("profile", data["id"])]


async def test_minimal_profile_gets_defaults(api: AsyncTestClient[Any]) -> None:
    resp = await api.post(
        "/v1/profiles", json={"home": {"lat": 1, "lon": 2}, "radius_km": 3, "comfort_level": 1}
    )
    assert resp.status_code == 201, resp.text
    data = resp.json()
    assert data["formats"] == ["in_person", "online"]
    assert data["timezone"] == "UTC" and data["max_events_per_week"] == 3
    assert data["interests"] == {} and data["availability"] == []
    assert data["display_name"] is None and data["max_cost_cents"] is None


async def test_overnight_window_is_accepted(api: AsyncTestClient[Any]) -> None:
    window = {"days": ["fri"], "from": "22:00", "to": "02:00"}
    data = await create(
        api, availability=[window, {"days": ["sat"], "from": "20:00", "to": "24:00"}]
    )
    assert data["availability"][0] == window


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"radius_km": 0}, "radius_km"),
        ({"radius_km": 201}, "radius_km"),
        ({"comfort_level": 6}, "comfort_level"),
        ({"comfort_level": 0}, "comfort_level"),
        ({"interests": {"board games": 0}}, "interests"),
        ({"interests": {"board games": 1.5}}, "interests"),
        ({"interests": {"!!": 0.5}}, "interests"),
        ({"interests": {"Board Games": 0.5, "board-games": 0.2}}, "interests"),
        ({"interests": {f"tag-{i}": 0.5 for i in range(51)}}, "interests"),
        ({"formats": []}, "formats"),
        ({"formats": ["hybrid"]}, "formats"),
        ({"max_cost_cents": 500, "currency": None}, "currency"),
        ({"max_cost_cents": None, "currency": "EUR"}, "currency"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"max_events_per_week": 0}, "max_events_per_week"),
        ({"max_events_per_week": 51}, "max_events_per_week"),
        ({"home": {"lat": 91, "lon": 0}}, "lat"),
        ({"availability": [{"days": ["mon"], "from": "25:00", "to": "26:00"}]}, "from"),
        ({"availability": [{"days": ["mon"], "from": "10:00", "to": "10:00"}]}, "availability"),
        ({"availability": [{"days": ["funday"], "from": "10:00", "to": "11:00"}]}, "days"),
        ({"languages": ["english"]}, "languages"),
        # The events' accessibility vocabulary: a need no event can name is refused.
        ({"accessibility_needs": ["step-free"]}, "accessibility_needs"),
        ({"accessibility_needs": ["ramp"]}, "accessibility_needs"),
        # Strict JSON: 0 is not false, "5" is not 5.
        ({"open_to_stretch": 0}, "open_to_stretch"),
        ({"radius_km": "5"}, "radius_km"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_invalid_values_get_422_naming_the_field(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, overrides: dict[str, Any], field: str
) -> None:
    resp = await api.post("/v1/profiles", json=profile_body(**overrides))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert field in resp.text
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM profiles") == 0


async def test_body_that_is_not_json_gets_400(api: AsyncTestClient[Any]) -> None:
    resp = await api.post(
        "/v1/profiles", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_body_over_64_kib_gets_413(api: AsyncTestClient[Any]) -> None:
    resp = await api.post("/v1/profiles", json=profile_body(display_name="x" * 70_000))
    assert resp.status_code == 413
