"""`/healthz` and `/readyz` on both HTTP services, with Redis or PostgreSQL stopped."""

from __future__ import annotations

import signal
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.api.app import create_app as create_api
from services.feed.app import create_app as create_feed
from shared.runtime import start_postgres, start_redis
from shared.settings import Settings


@pytest.mark.parametrize("create", [create_api, create_feed])
async def test_ready_when_both_answer(settings: Settings, create: object) -> None:
    async with AsyncTestClient(app=create(settings)) as client:  # type: ignore[operator]
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "postgres": "up", "redis": "up"}


@pytest.mark.parametrize("create", [create_api, create_feed])
async def test_readyz_reports_a_stopped_redis_but_stays_ready(
    settings: Settings, tmp_path: Path, create: object
) -> None:
    url, proc, _ = start_redis(tmp_path)
    assert proc is not None
    own = msgspec.structs.replace(settings, redis_url=url)
    async with AsyncTestClient(app=create(own)) as client:  # type: ignore[operator]
        assert (await client.get("/readyz")).json()["redis"] == "up"
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        ready = await client.get("/readyz")
        # Redis alone never takes a service out: writes wait in the outbox.
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "postgres": "up", "redis": "down"}
        assert (await client.get("/healthz")).status_code == 200


async def test_readyz_is_503_when_postgres_stops(settings: Settings, tmp_path: Path) -> None:
    url, server = start_postgres(tmp_path)
    own = msgspec.structs.replace(settings, database_url=url)
    try:
        async with AsyncTestClient(app=create_api(own)) as client:
            assert (await client.get("/readyz")).status_code == 200
            server.cleanup()  # type: ignore[attr-defined]
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["postgres"] == "down"
            assert ready.headers["retry-after"]
            assert (await client.get("/healthz")).status_code == 200
    finally:
        server.cleanup()  # type: ignore[attr-defined]


async def test_a_deadlock_victim_gets_503_with_retry_after_not_500(settings: Settings) -> None:
    import asyncpg
    from litestar import post

    @post("/crossed")
    async def crossed() -> None:
        raise asyncpg.DeadlockDetectedError("deadlock detected")

    from shared.http.service import build_app

    app = build_app(settings, name="t", route_handlers=[crossed])
    async with AsyncTestClient(app=app) as client:
        answer = await client.post("/crossed")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["content-type"] == "application/problem+json"
