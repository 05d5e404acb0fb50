"""`/metrics` in Prometheus format: request latency per route template (never a token),
status counts, and the worker's job, outbox and queue figures."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from services.worker.metrics import JOB_FAILURES, JOB_SECONDS, measured, sample_depths
from shared.db.outbox import add_outbox
from shared.queue import connect_queue
from shared.settings import Settings


async def test_api_metrics_label_requests_by_route_template(
    api: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    # The route template, not the concrete path, so ids and tokens never become labels.
    labels = {
        "app_name": "lowkey_api",
        "method": "GET",
        "path": "/v1/events/{event_id}",
        "status_code": "404",
    }
    before = REGISTRY.get_sample_value("lowkey_requests_total", labels) or 0.0
    assert (await api.get("/v1/events/987654")).status_code == 404
    body = (await api.get("/metrics")).text
    assert REGISTRY.get_sample_value("lowkey_requests_total", labels) == before + 1
    assert "/v1/events/987654" not in body
    assert 'lowkey_request_duration_seconds_bucket{app_name="lowkey_api",le="0.005"' in body


async def test_feed_metrics_never_carry_a_token(feed: AsyncTestClient[Any]) -> None:
    token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd"
    assert (await feed.get(f"/feeds/{token}.ics")).status_code == 404
    body = (await feed.get("/metrics")).text
    assert token not in body
    assert 'app_name="lowkey_feed",method="GET",path="/feeds/{' in body


async def test_worker_metrics_time_jobs_and_count_failures() -> None:
    @measured
    async def flaky_job(ctx: dict[str, Any], fail: bool) -> str:
        if fail:
            raise RuntimeError("boom")
        return "ok"

    before = JOB_FAILURES.labels("flaky_job")._value.get()
    assert await flaky_job({}, False) == "ok"
    with pytest.raises(RuntimeError):
        await flaky_job({}, True)
    assert flaky_job.__name__ == "flaky_job"  # arq registers jobs by name
    assert JOB_FAILURES.labels("flaky_job")._value.get() == before + 1
    count = REGISTRY.get_sample_value(
        "lowkey_job_duration_seconds_count", {"function": "flaky_job"}
    )
    assert count is not None and count >= 2
    assert JOB_SECONDS.labels("flaky_job")._sum.get() >= 0


async def test_worker_depth_gauges_follow_outbox_and_queue(
    settings: Settings, pool: Any, db_clean: None
) -> None:
    async with pool.acquire() as conn:
        for subject in (1, 2, 3):
            await add_outbox(conn, "profile", subject)
    queue = connect_queue(settings)
    try:
        await queue.enqueue_job("score_profile", 1, 1, _job_id=f"{settings.redis_prefix}:m:1")
        await sample_depths({"settings": settings, "pool": pool, "redis": queue})
    finally:
        await queue.aclose()
    assert REGISTRY.get_sample_value("lowkey_outbox_depth") == 3
    assert REGISTRY.get_sample_value("lowkey_queue_depth") == 1


def test_worker_serves_metrics_beside_its_health(settings: Settings) -> None:
    import socket

    from msgspec.structs import replace

    from services.worker.health import LoopHeartbeat, serve_health

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = serve_health(replace(settings, worker_metrics_port=port), LoopHeartbeat())
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):  # the server's thread is starting
            try:
                body = httpx.get(f"{url}/metrics", timeout=5).text
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert "lowkey_job_duration_seconds" in body and "lowkey_parked_jobs" in body
        assert httpx.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    finally:
        server.stop()
