"""`/healthz` and `/readyz` on the api, the feed and the worker, with Redis or PostgreSQL
stopped, and the worker's while a job holds its event loop."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
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


# --- the worker's health, beside its /metrics on LOWKEY_WORKER_METRICS_PORT ---------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def worker_health(settings: Settings) -> Iterator[Callable[..., str]]:
    """`start(settings=…, heartbeat=…)` serves the worker's health; returns its URL."""
    from services.worker.health import LoopHeartbeat, serve_health

    servers = []

    def start(own: Settings | None = None, heartbeat: LoopHeartbeat | None = None) -> str:
        port = _free_port()
        chosen = msgspec.structs.replace(own or settings, worker_metrics_port=port)
        servers.append(serve_health(chosen, heartbeat or LoopHeartbeat()))
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):  # its thread is starting
            try:
                httpx.get(url + "/healthz", timeout=2)
                return url
            except httpx.ConnectError:
                time.sleep(0.02)
        raise AssertionError("the worker's health server did not start")

    yield start
    for server in servers:
        server.stop()


async def test_worker_health_is_json_and_ready_when_both_servers_answer(
    worker_health: Callable[..., str],
) -> None:
    url = worker_health()
    async with httpx.AsyncClient(base_url=url) as client:
        alive = await client.get("/healthz")
        assert alive.status_code == 200 and alive.json() == {"status": "ok"}
        assert alive.headers["content-type"].startswith("application/json")
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "postgres": "up",
            "redis": "up",
            "jobs": "running",
        }
        metrics = await client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "lowkey_outbox_depth" in metrics.text


async def test_worker_is_unready_without_redis_and_says_which(
    settings: Settings, tmp_path: Path, worker_health: Callable[..., str]
) -> None:
    """Unlike the api and feed, the worker cannot do its job without Redis: its work
    arrives there."""
    redis_url, proc, _ = start_redis(tmp_path)
    assert proc is not None
    url = worker_health(msgspec.structs.replace(settings, redis_url=redis_url))
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/readyz")).status_code == 200
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "unavailable",
            "postgres": "up",
            "redis": "down",
            "jobs": "running",
        }
        assert ready.headers["retry-after"]
        assert (await client.get("/healthz")).status_code == 200  # alive all the same


async def test_worker_is_unready_without_postgres(
    settings: Settings, tmp_path: Path, worker_health: Callable[..., str]
) -> None:
    db_url, server = start_postgres(tmp_path)
    try:
        url = worker_health(msgspec.structs.replace(settings, database_url=db_url))
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/readyz")).json()["postgres"] == "up"
            server.cleanup()  # type: ignore[attr-defined]
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["postgres"] == "down"
    finally:
        server.cleanup()  # type: ignore[attr-defined]


def test_worker_health_answers_while_a_job_holds_its_loop_and_says_so(
    worker_health: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.worker import health

    monkeypatch.setattr(health, "STALLED_AFTER_S", 0.5)
    heartbeat = health.LoopHeartbeat()
    loop = asyncio.new_event_loop()  # the worker's loop, in a thread of its own here
    beating = loop.create_task(heartbeat.run(every_s=0.05))
    turning = threading.Thread(target=loop.run_forever, daemon=True)
    turning.start()
    try:
        url = worker_health(heartbeat=heartbeat)
        assert httpx.get(url + "/healthz", timeout=2).status_code == 200
        # A job that never yields holds the loop (and keeps the GIL busy half the time).
        loop.call_soon_threadsafe(time.sleep, 1.5)
        time.sleep(1.0)
        held = httpx.get(url + "/healthz", timeout=2)
        assert held.status_code == 503 and held.json()["status"] == "stalled"
        assert httpx.get(url + "/readyz", timeout=5).json()["jobs"] == "stalled"
        time.sleep(1.0)  # the job gave the loop back
        assert httpx.get(url + "/healthz", timeout=2).status_code == 200
    finally:
        loop.call_soon_threadsafe(loop.stop)
        turning.join(5)
        beating.cancel()
        loop.run_until_complete(asyncio.gather(beating, return_exceptions=True))
        loop.close()


def test_watchdog_acts_once_the_loop_has_not_turned_for_its_limit() -> None:
    from services.worker.health import LoopHeartbeat, start_watchdog

    stalled: list[float] = []
    heartbeat = LoopHeartbeat()  # nothing beats it: a loop that never turns
    watchdog = start_watchdog(
        heartbeat, exit_after_s=0.3, on_stall=stalled.append, check_every_s=0.05
    )
    watchdog.join(5)
    assert not watchdog.is_alive() and len(stalled) == 1 and stalled[0] > 0.3
