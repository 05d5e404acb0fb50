"""Test fixtures: real PostgreSQL and Redis, a fresh database and Redis prefix per run.

With DATABASE_URL / REDIS_URL set, the run uses those servers (CI's second pass, the
machine's PostgreSQL 15 and Redis 7); otherwise it starts embedded ones in a temp dir.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import asyncpg
import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from shared.db.migrate import migrate_url
from shared.db.pool import create_pool
from shared.runtime import ensure_servers
from shared.settings import Settings

RUN_ID = secrets.token_hex(4)
ADMIN_KEY = "test-admin-key-0123456789abcdef"
SECRET_KEY = "test-secret-key-0123456789abcdef"

# Tables emptied by `db_clean`; weights are reset to version 1 separately.
DATA_TABLES = (
    "checkins",
    "comfort_changes",
    "match_occurrences",
    "buddies",
    "buddy_invites",
    "matches",
    "match_explanations",
    "hidden_events",
    "feed_renders",
    "idempotency_records",
    "outbox",
    "geocode_cache",
    "events",
    "profiles",
    "organisers",
)


def database_url_for(server_url: str, database: str) -> str:
    parsed = urlparse(server_url)
    return urlunparse(parsed._replace(path=f"/{database}"))


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Tests that run `lowkey` in-process configure logging onto pytest's captured
    stderr, which closes after the test: put the root handlers back each time."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], root.level = saved


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lowkey-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def server_urls(tmp_root: Path) -> Iterator[tuple[str, str]]:
    """(PostgreSQL server URL, Redis URL): the environment's, or embedded ones."""
    base = Settings(
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        data_dir=tmp_root / "servers",
    )
    resolved, servers = ensure_servers(base)
    assert resolved.database_url and resolved.redis_url
    try:
        yield resolved.database_url, resolved.redis_url
    finally:
        servers.stop()


@pytest.fixture(scope="session")
async def database_url(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A database created for this run, migrated, and dropped afterwards."""
    name = f"lowkey_test_{RUN_ID}"
    admin = await asyncpg.connect(server_urls[0])
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_url_for(server_urls[0], name)
    await migrate_url(url)
    yield url
    admin = await asyncpg.connect(server_urls[0])
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def redis_url(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    url = server_urls[1]
    yield url
    # Only this run's keys: never flush a shared server.
    client = aioredis.from_url(url)
    try:
        async for key in client.scan_iter(match=f"lowkey-test-{RUN_ID}*"):
            await client.delete(key)
        async for key in client.scan_iter(match=f"arq:*lowkey-test-{RUN_ID}*"):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str, tmp_root: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_root / "data",
        public_url="http://api.test",
        feed_base_url="http://feeds.test",
        admin_key=ADMIN_KEY,
        secret_key=SECRET_KEY,
        redis_prefix=f"lowkey-test-{RUN_ID}",
        profile_rate_limit=10_000,
    )


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, max_size=5)
    yield p
    await p.close()


@pytest.fixture
async def db_clean(pool: asyncpg.Pool, redis_url: str, settings: Settings) -> None:
    """An empty database (weights back to version 1) and none of this run's Redis keys."""
    async with pool.acquire() as conn:
        await conn.execute(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")
        # Run ids never restart: the partitions of `matches` are named after their run.
        await conn.execute("TRUNCATE rescore_runs CASCADE")
        # Tables of re-score runs a test left unfinished.
        for name in await conn.fetch(
            "SELECT c.relname FROM pg_class c WHERE c.relkind IN ('r', 'p')"
            " AND (c.relname LIKE 'matches\\_run\\_%' OR c.relname LIKE 'matches\\_part\\_%')"
            " AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)"
        ):
            await conn.execute(f'DROP TABLE "{name[0]}"')
        await conn.execute("UPDATE active_weights SET version = 1")
        await conn.execute("DELETE FROM weight_versions WHERE version > 1")
    client = aioredis.from_url(redis_url)
    try:
        async for key in client.scan_iter(match=f"{settings.redis_prefix}*"):
            await client.delete(key)
        async for key in client.scan_iter(match=f"arq:*{settings.redis_prefix}*"):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture
async def api(settings: Settings, db_clean: None) -> AsyncIterator[AsyncTestClient[Any]]:
    """The API app in-process, on the run's real database and Redis."""
    from services.api.app import create_app

    async with AsyncTestClient(app=create_app(settings), base_url="http://api.test") as client:
        yield client


@pytest.fixture
async def feed(settings: Settings, db_clean: None) -> AsyncIterator[AsyncTestClient[Any]]:
    """The feed service in-process."""
    from services.feed.app import create_app

    async with AsyncTestClient(app=create_app(settings), base_url="http://feeds.test") as client:
        yield client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def drain_queue(settings: Settings) -> Callable[[], Awaitable[int]]:
    """Run the real arq Workers (main, then re-score chunks) in burst mode until both
    queues are empty; returns jobs completed."""
    from services.worker.main import create_chunk_worker, create_worker

    async def drain() -> int:
        total = 0
        client = aioredis.from_url(settings.redis_url or "")
        try:
            while True:
                for create in (create_worker, create_chunk_worker):
                    worker = create(settings, burst=True, poll_delay=0.05)
                    try:
                        await worker.async_run()
                        total += int(worker.jobs_complete)
                    finally:
                        await worker.close()
                # Cron runs at every start count as jobs: stop on empty queues instead.
                waiting = await client.zcard(settings.queue_name)
                waiting += await client.zcard(settings.chunk_queue_name)
                if waiting == 0:
                    return total
        finally:
            await client.aclose()

    return drain
