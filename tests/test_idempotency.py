"""Idempotency-Key on POST: retries replay the first answer, sealed at rest, per caller."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from shared.crypto import SealError, unseal
from shared.settings import Settings
from tests.factories import bearer
from tests.test_api_profiles import profile_body


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def count(pool: asyncpg.Pool, table: str) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return n


async def test_retry_replays_first_answer_and_creates_once(
    api: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    body = profile_body()
    first = await api.post("/v1/profiles", json=body, headers=key("retry-1"))
    second = await api.post("/v1/profiles", json=body, headers=key("retry-1"))
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.json()["token"] == first.json()["token"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.headers["content-type"] == first.headers["content-type"]
    assert await count(pool, "profiles") == 1
    # The replayed token is a real one.
    me = await api.get("/v1/me", headers=bearer(second.json()["token"]))
    assert me.status_code == 200


async def test_same_key_other_body_gets_422(api: AsyncTestClient[Any], pool: asyncpg.Pool) -> None:
    assert (
        await api.post("/v1/profiles", json=profile_body(), headers=key("k-2"))
    ).status_code == 201
    resp = await api.post("/v1/profiles", json=profile_body(radius_km=7), headers=key("k-2"))
    assert resp.status_code == 422
    assert "Idempotency-Key" in resp.json()["detail"]
    assert await count(pool, "profiles") == 1


async def test_concurrent_double_submit_runs_once(
    api: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    body = profile_body()
    a, b = await asyncio.gather(
        api.post("/v1/profiles", json=body, headers=key("double")),
        api.post("/v1/profiles", json=body, headers=key("double")),
    )
    statuses = sorted([a.status_code, b.status_code])
    assert statuses in ([201, 201], [201, 409]), statuses
    if statuses == [201, 201]:
        assert a.json()["token"] == b.json()["token"]
        assert "idempotent-replayed" in a.headers or "idempotent-replayed" in b.headers
    else:
        conflict = a if a.status_code == 409 else b
        assert conflict.headers["content-type"].startswith("application/problem+json")
    assert await count(pool, "profiles") == 1
    assert await count(pool, "idempotency_records") == 1


async def test_retry_while_first_runs_gets_409(
    api: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    first = await api.post("/v1/profiles", json=profile_body(), headers=key("slow"))
    assert first.status_code == 201
    # Make the record look like a first attempt still in flight (status not yet stored).
    async with pool.acquire() as conn:
        await conn.execute("UPDATE idempotency_records SET status_code = NULL, response = NULL")
    resp = await api.post("/v1/profiles", json=profile_body(), headers=key("slow"))
    assert resp.status_code == 409
    # One that stayed "running" past 120 s was lost: a retry takes over and runs afresh.
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE idempotency_records SET created_at = now() - interval '3 minutes'"
        )
    resp = await api.post("/v1/profiles", json=profile_body(), headers=key("slow"))
    assert resp.status_code == 201 and "idempotent-replayed" not in resp.headers


async def test_record_expires_after_24_hours(api: AsyncTestClient[Any], pool: asyncpg.Pool) -> None:
    assert (
        await api.post("/v1/profiles", json=profile_body(), headers=key("old"))
    ).status_code == 201
    async with pool.acquire() as conn:
        await conn.execute("UPDATE idempotency_records SET created_at = now() - interval '25 h'")
    again = await api.post("/v1/profiles", json=profile_body(radius_km=8), headers=key("old"))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert await count(pool, "profiles") == 2


async def test_database_copy_cannot_reveal_the_token(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, settings: Settings
) -> None:
    resp = await api.post("/v1/profiles", json=profile_body(), headers=key("secret-k"))
    token = resp.json()["token"]
    feed_token = resp.json()["feed_url"].rsplit("/", 1)[1].removesuffix(".ics")
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM idempotency_records")
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in dict(row).values())
    assert token.encode() not in stored and feed_token.encode() not in stored
    assert b"secret-k" not in stored
    assert row["sealed"] is True and row["status_code"] == 201
    assert row["profile_id"] == resp.json()["id"]
    assert settings.secret_key
    with pytest.raises(SealError):  # the secret key alone does not open it
        unseal(row["response"], settings.secret_key, "another-key", purpose="idempotency")
    opened = unseal(row["response"], settings.secret_key, "secret-k", purpose="idempotency")
    assert token.encode() in opened


async def test_keys_are_per_caller(api: AsyncTestClient[Any], pool: asyncpg.Pool) -> None:
    one = (await api.post("/v1/profiles", json=profile_body())).json()
    two = (await api.post("/v1/profiles", json=profile_body())).json()
    urls = []
    for profile in (one, two):
        resp = await api.post(
            "/v1/me/feed/rotate", headers={**bearer(profile["token"]), **key("same-key")}
        )
        assert resp.status_code == 200 and "idempotent-replayed" not in resp.headers
        urls.append(resp.json()["feed_url"])
    assert urls[0] != urls[1]
    replay = await api.post(
        "/v1/me/feed/rotate", headers={**bearer(one["token"]), **key("same-key")}
    )
    assert replay.json()["feed_url"] == urls[0]
    assert replay.headers["idempotent-replayed"] == "true"
    # The user's own records are tied to the profile, so erasure removes them.
    async with pool.acquire() as conn:
        tied = await conn.fetchval(
            "SELECT count(*) FROM idempotency_records WHERE profile_id = $1", one["id"]
        )
    assert tied == 1


async def test_client_errors_are_kept_and_replayed(api: AsyncTestClient[Any]) -> None:
    bad = profile_body(comfort_level=9)
    first = await api.post("/v1/profiles", json=bad, headers=key("bad-1"))
    second = await api.post("/v1/profiles", json=bad, headers=key("bad-1"))
    assert first.status_code == second.status_code == 422
    assert second.content == first.content and second.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize("value", ["x" * 256, "naïve-key", "has space"])
async def test_invalid_idempotency_key_gets_422(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, value: str
) -> None:
    headers = {"Idempotency-Key": value.encode()}  # bytes: httpx sends them as they are
    resp = await api.post("/v1/profiles", json=profile_body(), headers=headers)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert await count(pool, "profiles") == 0


async def test_without_key_each_post_creates(api: AsyncTestClient[Any], pool: asyncpg.Pool) -> None:
    for _ in range(2):
        assert (await api.post("/v1/profiles", json=profile_body())).status_code == 201
    assert await count(pool, "profiles") == 2
    assert await count(pool, "idempotency_records") == 0
