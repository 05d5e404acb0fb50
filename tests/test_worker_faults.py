"""Fault drills for matching, on servers these tests start themselves: a worker killed
with SIGKILL in the middle of a full re-score, and Redis stopped while an organiser posts.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.api.app import create_app
from services.worker import jobs
from services.worker.main import create_worker
from shared.db import rescore
from shared.queue import connect_queue
from shared.runtime import start_redis
from shared.settings import Settings
from tests.conftest import ADMIN_KEY, SECRET_KEY
from tests.factories import bearer, create_organiser, event_body
from tests.test_worker_jobs import (
    add_event,
    add_profile,
    assert_same_matches,
    expected_matches,
    stored_matches,
)

ROOT = Path(__file__).resolve().parent.parent
TAGS = ["board-games", "walking", "book-club", "knitting", "volunteering", "chess"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Redis of this test's own (the machine's shared one is never stopped)."""
    url, proc, _ = start_redis(tmp_path / "own")
    assert proc is not None
    try:
        yield url, tmp_path / "own"
    finally:
        stop_redis(tmp_path / "own")


def stop_redis(data_dir: Path) -> None:
    pidfile = data_dir / "redis" / "redis.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().strip() or 0)
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)


def start_worker_process(settings: Settings, redis_url: str, tmp: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": redis_url,
        "LOWKEY_SECRET_KEY": SECRET_KEY,
        "LOWKEY_ADMIN_KEY": ADMIN_KEY,
        "LOWKEY_WORKER_METRICS_PORT": str(free_port()),
        "LOWKEY_DATA_DIR": str(tmp / "worker-data"),
        "LOWKEY_LOG_LEVEL": "warning",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "worker.log", "ab"),
    )


async def city(pool: asyncpg.Pool, profiles: int, events: int) -> None:
    """A small random city around Leeds, written straight into the tables."""
    rng = random.Random(7)
    async with pool.acquire() as conn:
        for _ in range(profiles):
            await add_profile(
                conn,
                53.80 + rng.uniform(-0.05, 0.05),
                -1.55 + rng.uniform(-0.08, 0.08),
                radius_km=rng.choice([2.0, 3.0, 5.0, 8.0]),
                comfort_level=rng.randint(1, 5),
                open_to_stretch=rng.random() < 0.3,
                interests={t: round(rng.uniform(0.2, 1.0), 2) for t in rng.sample(TAGS, 2)},
                formats=rng.choice([["in_person"], ["in_person", "online"], ["online"]]),
            )
        for i in range(events):
            online = i % 10 == 0
            size = rng.choice([5, 8, 12, 20, 40])
            await add_event(
                conn,
                None if online else 53.80 + rng.uniform(-0.05, 0.05),
                None if online else -1.55 + rng.uniform(-0.08, 0.08),
                tags=rng.sample(TAGS, 2),
                group_size=size,
                intensity=1 + (size > 6) + (size > 12) + (size > 25) + (size > 60),
                talking_optional=False,
                newcomer_support=False,
                online_url="https://meet.example/x" if online else None,
            )


async def run_state(pool: asyncpg.Pool, run_id: int) -> asyncpg.Record:
    row: asyncpg.Record = await pool.fetchrow("SELECT * FROM rescore_runs WHERE id = $1", run_id)
    return row


async def test_worker_killed_mid_rescore_loses_and_doubles_nothing(
    settings: Settings,
    pool: asyncpg.Pool,
    db_clean: None,
    private_redis: tuple[str, Path],
    tmp_path: Path,
) -> None:
    redis_url, _ = private_redis
    await city(pool, profiles=1500, events=150)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO weight_versions (version, distance, interest, comfort, distance_decay_km,"
            " online_score, stretch_penalty, min_score, note)"
            " VALUES (2, 1.5, 1, 0.5, 4, 0.5, 0.3, 0.25, 'drill')"
        )
        await conn.execute("UPDATE active_weights SET version = 2")
        run_id = await rescore.add_run(conn, 2, "drill")
        chunks = await jobs.fan_out(conn, run_id, 30)
    # `lowkey worker` uses the default prefix; this Redis is ours alone.
    worker_settings = msgspec.structs.replace(settings, redis_url=redis_url, redis_prefix="lowkey")
    queue = connect_queue(worker_settings)
    for n in range(chunks):
        assert await jobs.enqueue_chunk(queue, worker_settings, run_id, n)
    await queue.aclose()

    first = start_worker_process(settings, redis_url, tmp_path)
    deadline = time.monotonic() + 60
    while (await run_state(pool, run_id))["chunks_done"] < 3:
        assert first.poll() is None and time.monotonic() < deadline, "worker made no progress"
        await asyncio.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = await run_state(pool, run_id)
    assert killed_at["finished_at"] is None and killed_at["chunks_done"] < chunks

    second = start_worker_process(settings, redis_url, tmp_path)
    try:
        # Jobs the killed worker held are re-run after their timeout + 10 s.
        deadline = time.monotonic() + jobs.CHUNK_TIMEOUT_S + 60
        while (await run_state(pool, run_id))["finished_at"] is None:
            assert second.poll() is None and time.monotonic() < deadline, "run never finished"
            await asyncio.sleep(0.2)
    finally:
        second.terminate()
        second.wait(20)
    done = await run_state(pool, run_id)
    assert done["chunks_done"] == chunks
    stored = await stored_matches(pool)
    assert len(stored) > 500
    assert {m["weight_version"] for m in stored.values()} == {2}
    assert_same_matches(stored, await expected_matches(pool))
    # Each chunk counted once: the run stored every eligible pair, matches or not.
    assert done["matches"] == await pool.fetchval("SELECT count(*) FROM matches")


@pytest.fixture
async def api_on_own_redis(
    settings: Settings, db_clean: None, private_redis: tuple[str, Path]
) -> AsyncIterator[tuple[AsyncTestClient[Any], Settings]]:
    own = msgspec.structs.replace(settings, redis_url=private_redis[0])
    async with AsyncTestClient(app=create_app(own), base_url="http://api.test") as client:
        yield client, own


async def drain(settings: Settings) -> None:
    worker = create_worker(settings, burst=True, poll_delay=0.05)
    try:
        await worker.async_run()
    finally:
        await worker.close()


async def test_post_while_redis_is_down_is_scored_once_it_is_back(
    api_on_own_redis: tuple[AsyncTestClient[Any], Settings],
    private_redis: tuple[str, Path],
    pool: asyncpg.Pool,
    admin_headers: dict[str, str],
) -> None:
    api, own = api_on_own_redis
    _, key = await create_organiser(api, admin_headers)
    created = await api.post(
        "/v1/profiles",
        json={
            "home": {"lat": 52.52, "lon": 13.405},
            "radius_km": 5,
            "interests": {"board-games": 1.0},
            "comfort_level": 3,
        },
    )
    assert created.status_code == 201
    user = created.json()
    await drain(own)

    stop_redis(private_redis[1])
    response = await api.post("/v1/events", json=event_body(), headers=bearer(key))
    assert response.status_code == 201, response.text
    event_id = response.json()["id"]
    pending = await pool.fetchrow(
        "SELECT done_at, enqueued_at FROM outbox WHERE kind = 'event' AND subject_id = $1", event_id
    )
    assert pending["done_at"] is None and pending["enqueued_at"] is None

    start_redis(private_redis[1])  # same data dir, same socket
    for _ in range(5):  # the sweep runs at start-up and enqueues what is pending
        await drain(own)
        if await pool.fetchval("SELECT count(*) FROM outbox WHERE done_at IS NULL") == 0:
            break
    page = await api.get("/v1/me/matches", headers=bearer(user["token"]))
    assert [m["event"]["id"] for m in page.json()["items"]] == [event_id]
