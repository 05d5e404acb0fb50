"""/v1/me…: read, patch, export, feed rotation, hiding, and erasure from PostgreSQL and Redis."""

from __future__ import annotations

from typing import Any

import asyncpg
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from shared import jobs
from shared.settings import Settings
from tests.conftest import DATA_TABLES
from tests.factories import bearer, create_organiser, post_event
from tests.test_api_profiles import create


async def test_get_me_shows_profile_and_same_feed_url(api: AsyncTestClient[Any]) -> None:
    created = await create(api)
    resp = await api.get("/v1/me", headers=bearer(created["token"]))
    assert resp.status_code == 200, resp.text
    me = resp.json()
    assert me["feed_url"] == created["feed_url"] and me["webcal_url"] == created["webcal_url"]
    assert "token" not in me and "token_hash" not in resp.text
    assert me["interests"] == created["interests"] and me["id"] == created["id"]


async def test_me_needs_a_profile_token(
    api: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    assert (await api.get("/v1/me")).status_code == 401
    assert (await api.get("/v1/me", headers=bearer("lk_usr_unknown"))).status_code == 401
    assert (await api.get("/v1/me", headers=admin_headers)).status_code == 403
    _, org_key = await create_organiser(api, admin_headers)
    resp = await api.delete("/v1/me", headers=bearer(org_key))
    assert resp.status_code == 403
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_patch_changes_only_named_fields(
    api: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    created = await create(api)
    headers = bearer(created["token"])
    resp = await api.patch(
        "/v1/me",
        json={"comfort_level": 4, "display_name": None, "home": {"lat": 48.13743, "lon": 11.57549}},
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    me = resp.json()
    assert me["comfort_level"] == 4 and me["display_name"] is None
    assert me["home"] == {"lat": 48.137, "lon": 11.575}
    assert me["interests"] == created["interests"] and me["radius_km"] == created["radius_km"]
    assert me["feed_url"] == created["feed_url"]
    async with pool.acquire() as conn:
        outbox = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE kind = 'profile' AND subject_id = $1", created["id"]
        )
    assert outbox == 2  # create + patch


async def test_patch_rechecks_cross_field_rules(api: AsyncTestClient[Any]) -> None:
    created = await create(api)  # has max_cost_cents 1000 EUR
    headers = bearer(created["token"])
    resp = await api.patch("/v1/me", json={"currency": None}, headers=headers)
    assert resp.status_code == 422, resp.text
    assert "currency" in resp.text
    resp = await api.patch(
        "/v1/me", json={"currency": None, "max_cost_cents": None}, headers=headers
    )
    assert resp.status_code == 200 and resp.json()["currency"] is None
    resp = await api.patch("/v1/me", json={"timezone": "Nowhere/Void"}, headers=headers)
    assert resp.status_code == 422
    resp = await api.patch("/v1/me", json={"token": "x"}, headers=headers)
    assert resp.status_code == 422


async def test_rotate_feed_replaces_token_and_drops_render(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, settings: Settings
) -> None:
    created = await create(api)
    headers = bearer(created["token"])
    async with pool.acquire() as conn:
        old_hash = await conn.fetchval(
            "SELECT feed_token_hash FROM profiles WHERE id = $1", created["id"]
        )
        await conn.execute(
            "INSERT INTO feed_renders (profile_id, render_key, body, etag, last_modified)"
            " VALUES ($1, 'k', 'x', 'e', now())",
            created["id"],
        )
    resp = await api.post("/v1/me/feed/rotate", headers=headers)
    assert resp.status_code == 200, resp.text
    urls = resp.json()
    assert set(urls) == {"feed_url", "webcal_url"}
    assert urls["feed_url"] != created["feed_url"]
    assert urls["feed_url"].startswith(f"{settings.feed_base_url}/feeds/")
    assert (await api.get("/v1/me", headers=headers)).json()["feed_url"] == urls["feed_url"]
    async with pool.acquire() as conn:
        new_hash = await conn.fetchval(
            "SELECT feed_token_hash FROM profiles WHERE id = $1", created["id"]
        )
        renders = await conn.fetchval("SELECT count(*) FROM feed_renders")
    assert new_hash != old_hash and renders == 0


async def test_hide_and_unhide(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, admin_headers: dict[str, str]
) -> None:
    created = await create(api)
    headers = bearer(created["token"])
    _, org_key = await create_organiser(api, admin_headers)
    event = await post_event(api, org_key)
    for _ in range(2):  # hiding twice is fine
        resp = await api.post(f"/v1/me/hidden/{event['id']}", headers=headers)
        assert resp.status_code == 204, resp.text
    async with pool.acquire() as conn:
        hidden = await conn.fetch("SELECT profile_id, event_id FROM hidden_events")
    assert [tuple(r) for r in hidden] == [(created["id"], event["id"])]
    export = (await api.get("/v1/me/export", headers=headers)).json()
    assert [h["event_id"] for h in export["hidden_events"]] == [event["id"]]
    resp = await api.delete(f"/v1/me/hidden/{event['id']}", headers=headers)
    assert resp.status_code == 204
    resp = await api.delete(f"/v1/me/hidden/{event['id']}", headers=headers)
    assert resp.status_code == 204
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM hidden_events") == 0
        outbox = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE kind = 'profile' AND subject_id = $1", created["id"]
        )
    assert outbox == 1 + 4  # create, two hides, two unhides
    assert (await api.post("/v1/me/hidden/999999", headers=headers)).status_code == 404
    assert (await api.delete("/v1/me/hidden/999999", headers=headers)).status_code == 404


async def test_export_holds_everything_stored(api: AsyncTestClient[Any]) -> None:
    created = await create(api, display_name="Robin")
    resp = await api.get("/v1/me/export", headers=bearer(created["token"]))
    assert resp.status_code == 200, resp.text
    export = resp.json()
    assert export["profile"]["display_name"] == "Robin"
    assert export["profile"]["feed_url"] == created["feed_url"]
    assert export["hidden_events"] == [] and export["matches"] == []
    assert export["idempotency_records"] == 0
    assert "token" not in export["profile"]


# Explanation texts are shared by every match with the same reasons and tied to no profile
# (matches point at them), so an erasure leaves them; the profile's matches go.
SHARED_TABLES = {"match_explanations"}


async def _everything(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        return {
            t: await conn.fetchval(f"SELECT count(*) FROM {t}")
            for t in DATA_TABLES
            if t not in SHARED_TABLES
        }


async def test_delete_me_erases_everything_in_postgres_and_redis(
    api: AsyncTestClient[Any],
    pool: asyncpg.Pool,
    settings: Settings,
    redis_url: str,
    admin_headers: dict[str, str],
) -> None:
    _, org_key = await create_organiser(api, admin_headers)
    event = await post_event(api, org_key)
    before = await _everything(pool)
    created = await api.post(
        "/v1/profiles",
        json=(await _body()),
        headers={"Idempotency-Key": "erase-me-1"},
    )
    assert created.status_code == 201
    me = created.json()
    headers = bearer(me["token"])
    pid = me["id"]
    assert (await api.post(f"/v1/me/hidden/{event['id']}", headers=headers)).status_code == 204
    rotate = await api.post(
        "/v1/me/feed/rotate", headers={**headers, "Idempotency-Key": "rotate-1"}
    )
    assert rotate.status_code == 200
    assert (await api.patch("/v1/me", json={"radius_km": 9}, headers=headers)).status_code == 200
    async with pool.acquire() as conn:
        weight_version = await conn.fetchval("SELECT version FROM active_weights")
        await conn.execute(
            "WITH x AS (INSERT INTO match_explanations (text) VALUES ('board games') RETURNING id)"
            " INSERT INTO matches (profile_id, event_id, distance_km, online, interest_score,"
            " comfort_gap, explanation_id)"
            " SELECT $1, $2, 1.2, false, 0.9, 0, x.id FROM x WHERE $3::int > 0",
            pid,
            event["id"],
            weight_version,
        )
        await conn.execute(
            "INSERT INTO feed_renders (profile_id, render_key, body, etag, last_modified)"
            " VALUES ($1, 'k', 'x', 'e', now())",
            pid,
        )
        outbox_ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM outbox WHERE kind = 'profile' AND subject_id = $1", pid
            )
        ]
    export = (await api.get("/v1/me/export", headers=headers)).json()
    assert len(export["matches"]) == 1 and export["idempotency_records"] == 2
    redis = aioredis.from_url(redis_url)
    try:
        job_ids = [jobs.job_id(settings.redis_prefix, "profile", oid) for oid in outbox_ids]
        assert len(job_ids) == 3  # create, hide, patch
        queued = {m.decode() for m in await redis.zrange(settings.queue_name, 0, -1)}
        assert set(job_ids) <= queued  # the jobs really were queued ...
        rl_keys = [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}:rl:me-write:*")]
        assert rl_keys  # ... and the user's own calls were counted

        resp = await api.delete("/v1/me", headers=headers)
        assert resp.status_code == 204, resp.text

        after = await _everything(pool)
        assert after == {**before, "idempotency_records": 0}, after
        queued = {m.decode() for m in await redis.zrange(settings.queue_name, 0, -1)}
        assert not set(job_ids) & queued
        for job in job_ids:
            assert not [k async for k in redis.scan_iter(match=f"arq:*{job}")]
        left = [k.decode() async for k in redis.scan_iter(match=f"{settings.redis_prefix}*")]
        # Only the per-address creation counter may stay: a count under a keyed hash of an
        # address, tied to no profile (erasing it would let anyone reset the limit).
        assert all(":rl:profiles:" in k for k in left if k != settings.queue_name), left
    finally:
        await redis.aclose()
    assert (await api.get("/v1/me", headers=headers)).status_code == 401


async def _body() -> dict[str, Any]:
    from tests.test_api_profiles import profile_body

    return profile_body()
