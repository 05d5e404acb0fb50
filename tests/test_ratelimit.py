"""Rate limits in Redis: profile creations per client address, proxies, Redis outages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from services.api.app import create_app
from services.api.client_address import client_address
from shared.settings import Settings
from tests.test_api_profiles import profile_body


@asynccontextmanager
async def api_with(settings: Settings, **changes: Any) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(msgspec.structs.replace(settings, **changes))
    async with AsyncTestClient(app=app, base_url="http://api.test") as client:
        yield client


async def test_profile_creation_is_limited_per_address(
    settings: Settings, db_clean: None, redis_url: str
) -> None:
    async with api_with(settings, profile_rate_limit=3) as api:
        for _ in range(3):
            assert (await api.post("/v1/profiles", json=profile_body())).status_code == 201
        resp = await api.post("/v1/profiles", json=profile_body())
        assert resp.status_code == 429
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert 1 <= int(resp.headers["retry-after"]) <= 60
    redis = aioredis.from_url(redis_url)
    try:
        keys = [k.decode() async for k in redis.scan_iter(match=f"{settings.redis_prefix}:rl:*")]
    finally:
        await redis.aclose()
    assert len(keys) == 1
    assert "testclient" not in keys[0] and "127.0.0.1" not in keys[0]  # a keyed hash only


async def test_429_releases_the_idempotency_key(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    async with api_with(settings, profile_rate_limit=1) as api:
        assert (await api.post("/v1/profiles", json=profile_body())).status_code == 201
        headers = {"Idempotency-Key": "after-limit"}
        resp = await api.post("/v1/profiles", json=profile_body(), headers=headers)
        assert resp.status_code == 429
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_records") == 0


async def test_forwarded_for_counts_only_behind_trusted_proxy(
    settings: Settings, db_clean: None
) -> None:
    # The test client's peer is "testclient": not an address, so never a trusted proxy.
    async with api_with(settings, profile_rate_limit=2) as api:
        for i in range(2):
            headers = {"X-Forwarded-For": f"203.0.113.{i}"}
            assert (
                await api.post("/v1/profiles", json=profile_body(), headers=headers)
            ).status_code == 201
        headers = {"X-Forwarded-For": "203.0.113.99"}
        resp = await api.post("/v1/profiles", json=profile_body(), headers=headers)
        assert resp.status_code == 429  # a spoofed header does not buy a fresh budget


def scope(peer: str, forwarded: str | None) -> Any:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer, 1234), "headers": headers}


def test_client_address_resolution() -> None:
    trusted = ("10.0.0.0/8", "::1")
    assert client_address(scope("198.51.100.7", "1.2.3.4"), trusted) == "198.51.100.7"
    assert client_address(scope("10.0.0.5", "1.2.3.4"), trusted) == "1.2.3.4"
    # Rightmost untrusted hop wins; what a client wrote left of it is ignored.
    assert client_address(scope("10.0.0.5", "6.6.6.6, 1.2.3.4, 10.1.1.1"), trusted) == "1.2.3.4"
    assert client_address(scope("10.0.0.5", None), trusted) == "10.0.0.5"
    assert client_address(scope("10.0.0.5", "garbage"), trusted) == "10.0.0.5"
    assert client_address(scope("::1", "2001:db8::1"), trusted) == "2001:db8::1"
    assert client_address(scope("10.0.0.5", "1.2.3.4"), ()) == "10.0.0.5"


async def test_redis_down_fails_open_and_still_creates(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    # Nothing listens on port 1: every Redis call fails fast.
    async with api_with(settings, redis_url="redis://127.0.0.1:1/0", profile_rate_limit=1) as api:
        for _ in range(2):
            resp = await api.post("/v1/profiles", json=profile_body())
            assert resp.status_code == 201, resp.text
        token = resp.json()["token"]
        assert (
            await api.delete("/v1/me", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 204
    async with pool.acquire() as conn:
        # The outbox keeps the work for the sweep; the erased profile's rows are gone.
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE enqueued_at IS NULL") == 1
        assert await conn.fetchval("SELECT count(*) FROM profiles") == 1
