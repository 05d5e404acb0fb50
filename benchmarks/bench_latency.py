"""Matching latency with a worker process running, on the demo city (300 events, 3000
profiles): a new event -> in a matching profile's matches, and a profile update ->
re-scored (its outbox row done). Goal: p95 <= 1 s. Run: `python -m benchmarks.bench_latency`.

Uses DATABASE_URL / REDIS_URL when set (else embedded servers) and a scratch database
`lowkey_bench_<random>` dropped afterwards; Redis keys carry a prefix of their own.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import asyncpg
from litestar.testing import AsyncTestClient

from shared.db.migrate import migrate_url
from shared.runtime import ensure_servers
from shared.settings import Settings

POSTS = 100
UPDATES = 30  # PATCH /v1/me is rate-limited per user


def _run_worker(settings: Settings) -> None:
    from services.worker.main import create_worker

    async def serve() -> None:
        # arq binds a Worker to the running loop: create it inside it.
        await create_worker(settings).async_run()

    asyncio.run(serve())


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def _wait(pool: asyncpg.Pool, query: str, *args: Any) -> None:
    deadline = time.perf_counter() + 30
    while not await pool.fetchval(query, *args):
        if time.perf_counter() > deadline:
            raise TimeoutError(query)
        await asyncio.sleep(0.005)


async def measure(settings: Settings) -> dict[str, list[float]]:
    from services.api.app import create_app
    from shared.demo import load_demo

    block = await load_demo(settings)
    assert block is not None
    values = {
        ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip() for ln in block.splitlines()[2:]
    }
    key, token = values["demo organiser key"], values["demo user token"]
    worker = multiprocessing.get_context("spawn").Process(target=_run_worker, args=(settings,))
    worker.start()
    assert settings.database_url is not None
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    out: dict[str, list[float]] = {"event post -> matched": [], "profile update -> re-scored": []}
    try:
        async with AsyncTestClient(app=create_app(settings)) as api:
            me = (await api.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
            await asyncio.sleep(2)  # worker start-up
            for i in range(POSTS):
                started = time.perf_counter()
                r = await api.post(
                    "/v1/events",
                    json=_event(i),
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert r.status_code == 201, r.text
                await _wait(
                    pool,
                    "SELECT EXISTS (SELECT 1 FROM matches WHERE event_id = $1 AND profile_id = $2)",
                    r.json()["id"],
                    me["id"],
                )
                out["event post -> matched"].append(time.perf_counter() - started)
            for i in range(UPDATES):
                while True:  # PATCH /v1/me is rate-limited per user: wait it out
                    started = time.perf_counter()
                    r = await api.patch(
                        "/v1/me",
                        json={"radius_km": 5 + (i % 2)},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    if r.status_code != 429:
                        break
                    await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                assert r.status_code == 200, r.text
                await _wait(
                    pool,
                    "SELECT done_at IS NOT NULL FROM outbox"
                    " WHERE kind = 'profile' AND subject_id = $1 ORDER BY id DESC LIMIT 1",
                    me["id"],
                )
                out["profile update -> re-scored"].append(time.perf_counter() - started)
    finally:
        await pool.close()
        worker.terminate()
        worker.join(10)
    return out


def _event(i: int) -> dict[str, Any]:
    return {
        "title": f"Bench board games {i}",
        "starts_at": "2030-12-01T19:00:00",
        "ends_at": "2030-12-01T21:00:00",
        "timezone": "Europe/London",
        "format": "in_person",
        "venue": {"name": "Central Library", "lat": 53.8005, "lon": -1.5485},
        "tags": ["board-games"],
        "group_size": 8,
        "structure": "structured",
        "noise": "quiet",
        "talking_optional": True,
        "newcomer_support": True,
        "currency": "GBP",
    }


async def _with_scratch_database(server_url: str, redis_url: str, tmp: Path) -> None:
    name = f"lowkey_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = urlunparse(urlparse(server_url)._replace(path=f"/{name}"))
    try:
        await migrate_url(url)
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            data_dir=tmp,
            admin_key="bench-admin-key-0123456789",
            secret_key="bench-secret-key-0123456789",
            redis_prefix=f"lowkey-bench-{name[-8:]}",
            public_url="http://127.0.0.1:8000",
            feed_base_url="http://127.0.0.1:8001",
            worker_metrics_port=0,
            profile_rate_limit=100_000,
        )
        results = await measure(settings)
        for label, values in results.items():
            print(
                f"{label:32s} n={len(values):3d}  p50={statistics.median(values) * 1000:7.1f} ms"
                f"  p95={_pct(values, 95) * 1000:7.1f} ms  (goal p95 <= 1000 ms)"
            )
    finally:
        admin = await asyncpg.connect(server_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="lowkey-bench-"))
    base = Settings(
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        data_dir=tmp / "servers",
    )
    resolved, servers = ensure_servers(base)
    try:
        assert resolved.database_url and resolved.redis_url
        asyncio.run(_with_scratch_database(resolved.database_url, resolved.redis_url, tmp))
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
