"""Events through the API: create, read, change, cancel, delete, with every SPEC rule on input,
the server's derived fields, and the outbox row written in the event's own transaction."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from services.api.app import create_app
from shared import jobs
from shared.crypto import token_hash
from shared.settings import Settings
from tests.conftest import SECRET_KEY
from tests.factories import bearer, create_organiser, event_body, post_event


def is_problem(response: Any) -> bool:
    return str(response.headers["content-type"]).startswith("application/problem+json")


def fields(response: Any) -> set[str]:
    return {e["field"] for e in response.json().get("errors", [])}


async def counts(pool: asyncpg.Pool) -> tuple[int, int]:
    async with pool.acquire() as conn:
        events = await conn.fetchval("SELECT count(*) FROM events")
        outbox = await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'event'")
    return int(events), int(outbox)


async def make_profile_token(pool: asyncpg.Pool) -> str:
    token = "lk_usr_test_profile_token_for_events"
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO profiles (token_hash, feed_token_hash, feed_token_sealed, home_lat,"
            " home_lon, radius_km, comfort_level) VALUES ($1, $2, '\\x00', 52.5, 13.4, 5, 3)",
            token_hash(SECRET_KEY, token, purpose="profile"),
            b"feed-hash-for-events-test",
        )
    return token


@pytest.fixture
async def key(api: AsyncTestClient[Any], admin_headers: dict[str, str]) -> str:
    return (await create_organiser(api, admin_headers))[1]


async def test_create_derives_the_server_fields(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool
) -> None:
    response = await api.post("/v1/events", json=event_body(), headers=bearer(key))
    assert response.status_code == 201
    event = response.json()
    assert event["status"] == "scheduled" and event["sequence"] == 0
    assert event["intensity"] == 1  # 8 people (2), structured, quiet, -1 -1 → clamped to 1
    assert event["starts_at"] == "2030-12-01T19:00:00"  # as given, local
    assert event["starts_at_utc"] == "2030-12-01T18:00:00Z"  # Berlin is +01:00 in December
    assert event["ends_at_utc"] == event["over_at"] == "2030-12-01T20:00:00Z"
    assert event["created_at"] == event["updated_at"]
    assert event["venue"]["lat"] == 52.5145 and event["tags"] == ["board-games"]
    read = await api.get(f"/v1/events/{event['id']}")
    assert read.status_code == 200 and read.json() == event
    assert await counts(pool) == (1, 1)


@pytest.mark.parametrize(
    "size, structure, noise, talking, newcomer, expected",
    [
        (8, "structured", "quiet", True, True, 1),
        (6, "structured", "loud", False, False, 2),
        (20, "semi", "moderate", False, False, 3),
        (13, "open", "quiet", False, True, 3),
        (61, "semi", "quiet", True, False, 4),
        (100, "open", "loud", False, False, 5),
        (10000, "open", "loud", True, True, 5),
    ],
)
async def test_intensity_follows_the_spec_formula(
    api: AsyncTestClient[Any],
    key: str,
    size: int,
    structure: str,
    noise: str,
    talking: bool,
    newcomer: bool,
    expected: int,
) -> None:
    event = await post_event(
        api,
        key,
        group_size=size,
        structure=structure,
        noise=noise,
        talking_optional=talking,
        newcomer_support=newcomer,
    )
    assert event["intensity"] == expected


async def test_ambiguous_autumn_time_means_its_first_occurrence(
    api: AsyncTestClient[Any], key: str
) -> None:
    event = await post_event(
        api, key, starts_at="2030-10-27T02:30:00", ends_at="2030-10-27T04:00:00"
    )
    assert event["starts_at_utc"] == "2030-10-27T00:30:00Z"  # still +02:00 (fold=0)
    assert event["ends_at_utc"] == "2030-10-27T03:00:00Z"  # after the change: +01:00


async def test_tags_are_trimmed_lowercased_and_hyphenated(
    api: AsyncTestClient[Any], key: str
) -> None:
    event = await post_event(api, key, tags=["  Board Games ", "TEA", "tea"])
    assert event["tags"] == ["board-games", "tea"]


async def test_series_over_at_is_the_end_of_its_last_occurrence(
    api: AsyncTestClient[Any], key: str
) -> None:
    counted = await post_event(api, key, recurrence="freq=weekly;count=3")
    assert counted["recurrence"] == "FREQ=WEEKLY;COUNT=3"
    assert counted["over_at"] == "2030-12-15T20:00:00Z"
    until = await post_event(
        api,
        key,
        starts_at="2030-12-03T19:00:00",
        ends_at="2030-12-03T21:00:00",
        recurrence="FREQ=WEEKLY;BYDAY=TU;UNTIL=20301217",
    )
    assert until["over_at"] == "2030-12-17T20:00:00Z"
    endless = await post_event(api, key, recurrence="FREQ=MONTHLY;BYMONTHDAY=1;INTERVAL=2")
    assert endless["over_at"] is None


async def test_online_event_needs_no_venue(api: AsyncTestClient[Any], key: str) -> None:
    event = await post_event(
        api, key, format="online", venue=None, online_url="https://meet.example/abc"
    )
    assert event["venue"] is None and event["format"] == "online"


V = event_body()["venue"]
BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("offset", {"starts_at": "2030-12-01T19:00:00+01:00"}, "starts_at"),
    ("utc z", {"ends_at": "2030-12-01T21:00:00Z"}, "ends_at"),
    ("not a date", {"starts_at": "2030-13-01T19:00:00"}, "starts_at"),
    (
        "spring gap",
        {"starts_at": "2030-03-31T02:30:00", "ends_at": "2030-03-31T04:00:00"},
        "starts_at",
    ),
    ("bad zone", {"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ("ends before", {"ends_at": "2030-12-01T18:00:00"}, "ends_at"),
    ("ends at start", {"ends_at": "2030-12-01T19:00:00"}, "ends_at"),
    ("rrule garbage", {"recurrence": "every tuesday"}, "recurrence"),
    ("rrule dtstart", {"recurrence": "DTSTART:20301201T190000\nRRULE:FREQ=WEEKLY"}, "recurrence"),
    ("rrule bad day", {"recurrence": "FREQ=WEEKLY;BYDAY=XX"}, "recurrence"),
    ("rrule hourly", {"recurrence": "FREQ=HOURLY"}, "recurrence"),
    ("rrule no freq", {"recurrence": "COUNT=3"}, "recurrence"),
    ("rrule misses start", {"recurrence": "FREQ=WEEKLY;BYDAY=TU"}, "recurrence"),
    ("bad tag", {"tags": ["board games!"]}, "tags[0]"),
    ("in person no venue", {"venue": None}, "venue"),
    (
        "hybrid no venue",
        {"format": "hybrid", "online_url": "https://x.example", "venue": None},
        "venue",
    ),
    ("no coordinates", {"venue": {"name": "Hall"}}, "venue.lat/venue.lon"),
    ("lat only", {"venue": {**V, "lon": None}}, "venue.lat/venue.lon"),
    ("lat out of range", {"venue": {**V, "lat": 91}}, "venue.lat"),
    ("online no url", {"format": "online", "venue": None}, "online_url"),
    ("url not http", {"format": "online", "online_url": "ftp://x"}, "online_url"),
    ("bad format", {"format": "telepathy"}, "format"),
    ("group size 0", {"group_size": 0}, "group_size"),
    ("group size huge", {"group_size": 10001}, "group_size"),
    ("bad structure", {"structure": "chaos"}, "structure"),
    ("bad noise", {"noise": "deafening"}, "noise"),
    ("negative cost", {"cost_cents": -1}, "cost_cents"),
    ("currency lower", {"currency": "eur"}, "currency"),
    ("accessibility word", {"accessibility": ["teleporter"]}, "accessibility"),
    ("language 3 letters", {"languages": ["deu"]}, "languages"),
    ("intensity given", {"intensity": 1}, "intensity"),
    ("unknown field", {"vibe": "chill"}, "vibe"),
    ("empty title", {"title": ""}, "title"),
]


@pytest.mark.parametrize(
    "overrides, field", [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS]
)
async def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool, overrides: dict[str, Any], field: str
) -> None:
    response = await api.post("/v1/events", json=event_body(**overrides), headers=bearer(key))
    assert response.status_code == 422, response.text
    assert is_problem(response)
    assert field in fields(response) or field in response.json()["detail"]
    assert await counts(pool) == (0, 0)


async def test_required_field_missing_is_422(api: AsyncTestClient[Any], key: str) -> None:
    body = event_body()
    del body["group_size"]
    response = await api.post("/v1/events", json=body, headers=bearer(key))
    assert response.status_code == 422 and "group_size" in response.json()["detail"]


async def test_several_bad_fields_are_all_named(api: AsyncTestClient[Any], key: str) -> None:
    # (A zone outside the IANA list is refused with the body's shape, before these rules.)
    body = event_body(ends_at="2030-12-01T18:00:00", tags=["ok", "!!"], venue=None)
    response = await api.post("/v1/events", json=body, headers=bearer(key))
    assert response.status_code == 422
    assert fields(response) == {"ends_at", "tags[1]", "venue"}


async def test_body_not_json_is_400_and_too_large_is_413(
    api: AsyncTestClient[Any], key: str
) -> None:
    headers = bearer(key) | {"Content-Type": "application/json"}
    broken = await api.post("/v1/events", content=b'{"title": ', headers=headers)
    assert broken.status_code == 400 and is_problem(broken)
    huge = event_body(description="x" * (65 * 1024))
    too_large = await api.post("/v1/events", json=huge, headers=bearer(key))
    assert too_large.status_code == 413 and is_problem(too_large)


async def test_who_may_post(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    anonymous = await api.post("/v1/events", json=event_body())
    assert anonymous.status_code == 401 and is_problem(anonymous)
    unknown = await api.post("/v1/events", json=event_body(), headers=bearer("lk_org_unknown"))
    assert unknown.status_code == 401
    as_admin = await api.post("/v1/events", json=event_body(), headers=admin_headers)
    assert as_admin.status_code == 403 and is_problem(as_admin)
    profile = await make_profile_token(pool)
    as_profile = await api.post("/v1/events", json=event_body(), headers=bearer(profile))
    assert as_profile.status_code == 403
    assert await counts(pool) == (0, 0)


async def test_unknown_event_is_404(api: AsyncTestClient[Any]) -> None:
    response = await api.get("/v1/events/424242")
    assert response.status_code == 404 and is_problem(response)


async def test_patch_changes_named_fields_and_bumps_sequence(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool
) -> None:
    event = await post_event(api, key)
    response = await api.patch(
        f"/v1/events/{event['id']}",
        json={"title": "Very quiet board games", "group_size": 30, "recurrence": None},
        headers=bearer(key),
    )
    assert response.status_code == 200
    changed = response.json()
    assert changed["title"] == "Very quiet board games"
    assert changed["intensity"] == 2  # 30 people (4) -2: re-derived
    assert changed["sequence"] == 1
    assert changed["updated_at"] > event["updated_at"]
    assert changed["created_at"] == event["created_at"]
    untouched = {k: v for k, v in event.items() if k not in ("title", "group_size", "intensity")}
    assert {k: changed[k] for k in untouched if k not in ("sequence", "updated_at")} == {
        k: v for k, v in untouched.items() if k not in ("sequence", "updated_at")
    }
    again = await api.patch(
        f"/v1/events/{event['id']}", json={"noise": "loud"}, headers=bearer(key)
    )
    assert again.json()["sequence"] == 2 and again.json()["intensity"] == 3
    assert await counts(pool) == (1, 3)


async def test_patch_revalidates_the_merged_event(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool
) -> None:
    event = await post_event(api, key)
    url = f"/v1/events/{event['id']}"
    for patch, field in [
        ({"ends_at": "2030-12-01T18:00:00"}, "ends_at"),
        ({"format": "online"}, "online_url"),
        ({"venue": None}, "venue"),
        ({"tags": ["no good!"]}, "tags[0]"),
        ({"sequence": 9}, "sequence"),
        ({"title": None}, "title"),
    ]:
        response = await api.patch(url, json=patch, headers=bearer(key))
        assert response.status_code == 422, (patch, response.text)
        assert field in fields(response) or field in response.json()["detail"]
    stored = (await api.get(url)).json()
    assert stored == event
    assert await counts(pool) == (1, 1)


async def test_empty_patch_changes_nothing(api: AsyncTestClient[Any], key: str) -> None:
    event = await post_event(api, key)
    response = await api.patch(f"/v1/events/{event['id']}", json={}, headers=bearer(key))
    assert response.status_code == 200 and response.json() == event


async def test_only_the_owner_may_change_cancel_or_delete(
    api: AsyncTestClient[Any], key: str, admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    event = await post_event(api, key)
    _, other = await create_organiser(api, admin_headers)
    profile = await make_profile_token(pool)
    url = f"/v1/events/{event['id']}"
    for headers in (bearer(other), bearer(profile), admin_headers):
        for method, path, body in [
            ("PATCH", url, {"title": "Mine now"}),
            ("POST", f"{url}/cancel", None),
            ("DELETE", url, None),
        ]:
            response = await api.request(method, path, json=body, headers=headers)
            assert response.status_code == 403 and is_problem(response), (method, headers)
    for method, path in [("PATCH", url), ("POST", f"{url}/cancel"), ("DELETE", url)]:
        assert (await api.request(method, path, json={})).status_code == 401
    assert (await api.get(url)).json() == event
    missing = await api.patch("/v1/events/999999", json={"title": "x"}, headers=bearer(key))
    assert missing.status_code == 404 and is_problem(missing)


async def test_cancel_is_200_once_and_idempotent(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool
) -> None:
    event = await post_event(api, key)
    url = f"/v1/events/{event['id']}/cancel"
    first = await api.post(url, headers=bearer(key))
    assert first.status_code == 200
    assert first.json()["status"] == "cancelled" and first.json()["sequence"] == 1
    second = await api.post(url, headers=bearer(key))
    assert second.status_code == 200 and second.json() == first.json()
    assert await counts(pool) == (1, 2)
    # A cancelled event stays readable, and is no longer found by search.
    assert (await api.get(f"/v1/events/{event['id']}")).json()["status"] == "cancelled"
    assert (await api.get("/v1/events")).json()["items"] == []


async def test_delete_removes_the_event_and_its_matches(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool
) -> None:
    event = await post_event(api, key)
    await make_profile_token(pool)
    async with pool.acquire() as conn:
        profile_id = await conn.fetchval("SELECT id FROM profiles")
        await conn.execute(
            "WITH x AS (INSERT INTO match_explanations (text) VALUES ('x') RETURNING id)"
            " INSERT INTO matches (profile_id, event_id, distance_km, online, interest_score,"
            " comfort_gap, explanation_id) SELECT $1, $2, 1, false, 1, 0, x.id FROM x",
            profile_id,
            event["id"],
        )
    response = await api.delete(f"/v1/events/{event['id']}", headers=bearer(key))
    assert response.status_code == 204 and response.content == b""
    assert (await api.get(f"/v1/events/{event['id']}")).status_code == 404
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM matches") == 0
        # The profile's feed must change: its matches version moved on.
        assert await conn.fetchval("SELECT matches_version FROM profiles") == 1
        kinds = await conn.fetch("SELECT subject_id FROM outbox WHERE kind = 'event' ORDER BY id")
    assert [r["subject_id"] for r in kinds] == [event["id"], event["id"]]
    again = await api.delete(f"/v1/events/{event['id']}", headers=bearer(key))
    assert again.status_code == 404


async def test_outbox_row_is_written_in_the_events_transaction_and_enqueued(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool, settings: Settings, redis_url: str
) -> None:
    event = await post_event(api, key)
    async with pool.acquire() as conn:
        created = await conn.fetchval("SELECT created_at FROM events WHERE id = $1", event["id"])
        row = await conn.fetchrow(
            "SELECT id, created_at, enqueued_at FROM outbox WHERE subject_id = $1", event["id"]
        )
    # Both default to now(), the start of the transaction: one transaction wrote both rows.
    assert row["created_at"] == created
    assert row["enqueued_at"] is not None
    client = aioredis.from_url(redis_url)
    try:
        job_key = f"arq:job:{jobs.job_id(settings.redis_prefix, 'event', row['id'])}"
        assert await client.exists(job_key) == 1
    finally:
        await client.aclose()


async def test_writes_succeed_with_redis_down(
    settings: Settings, db_clean: None, admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    dead = msgspec.structs.replace(settings, redis_url="unix:///nonexistent/lowkey-redis.sock")
    async with AsyncTestClient(app=create_app(dead), base_url="http://api.test") as client:
        _, key = await create_organiser(client, admin_headers)
        event = await post_event(client, key)
        url = f"/v1/events/{event['id']}"
        assert (
            await client.patch(url, json={"title": "t"}, headers=bearer(key))
        ).status_code == 200
        assert (await client.post(f"{url}/cancel", headers=bearer(key))).status_code == 200
        assert (await client.delete(url, headers=bearer(key))).status_code == 204
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT enqueued_at FROM outbox WHERE kind = 'event'")
    # Kept for the sweep: four rows, none enqueued.
    assert [r["enqueued_at"] for r in rows] == [None] * 4


async def test_a_retried_post_with_an_idempotency_key_creates_one_event(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool
) -> None:
    headers = bearer(key) | {"Idempotency-Key": "event-retry-1"}
    first = await api.post("/v1/events", json=event_body(), headers=headers)
    retry = await api.post("/v1/events", json=event_body(), headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert await counts(pool) == (1, 1)


async def test_an_id_beyond_bigint_is_a_client_error_not_a_500(
    api: Any, admin_headers: dict[str, str]
) -> None:
    huge = 639224436795596873924608
    for method, path in (
        ("GET", f"/v1/events/{huge}"),
        ("POST", f"/v1/events/{huge}/cancel"),
        ("DELETE", f"/v1/admin/organisers/{huge}"),
    ):
        answer = await api.request(method, path, headers=admin_headers)
        assert 400 <= answer.status_code < 500, (method, path, answer.status_code)
        assert answer.headers["content-type"] == "application/problem+json"


async def test_events_carry_their_next_start_in_every_view(
    api: AsyncTestClient[Any], key: str, pool: asyncpg.Pool
) -> None:
    # Weekly at 19:00 Berlin since four weeks ago: starts_at is long past, the next is not.
    berlin = ZoneInfo("Europe/Berlin")
    first = datetime.combine(datetime.now(berlin).date() - timedelta(weeks=4), time(19))
    event = await post_event(
        api,
        key,
        starts_at=first.isoformat(),
        ends_at=(first + timedelta(hours=2)).isoformat(),
        recurrence="FREQ=WEEKLY",
    )
    upcoming = next(
        s
        for s in (first + timedelta(weeks=k) for k in range(6))
        if (s + timedelta(hours=2)).replace(tzinfo=berlin) > datetime.now(berlin)
    )
    expected = {
        "next_starts_at": upcoming.isoformat(),
        "next_starts_at_utc": upcoming.replace(tzinfo=berlin)
        .astimezone(UTC)
        .isoformat()
        .replace("+00:00", "Z"),
    }
    assert {k: event[k] for k in expected} == expected
    read = (await api.get(f"/v1/events/{event['id']}")).json()
    assert {k: read[k] for k in expected} == expected
    found = (await api.get("/v1/events")).json()["items"]
    assert [{k: e[k] for k in expected} for e in found] == [expected]
    token = await make_profile_token(pool)
    async with pool.acquire() as conn:
        await conn.execute(
            "WITH x AS (INSERT INTO match_explanations (text) VALUES ('x') RETURNING id)"
            " INSERT INTO matches (profile_id, event_id, distance_km, online, interest_score,"
            " comfort_gap, explanation_id)"
            " SELECT (SELECT id FROM profiles), $1, 1, false, 1, 0, x.id FROM x",
            event["id"],
        )
    matched = (await api.get("/v1/me/matches", headers=bearer(token))).json()["items"]
    assert [{k: m["event"][k] for k in expected} for m in matched] == [expected]
