"""Embedded PostgreSQL and Redis: start, stop, restart with data kept, no double start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from shared.runtime import start_redis
from shared.settings import Settings


def _redis_url_ok(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def test_redis_keeps_data_across_restart_and_is_not_started_twice(tmp_path: Path) -> None:
    url, proc, _ = start_redis(tmp_path)
    assert proc is not None
    client = redis.Redis.from_url(url)
    client.set("kept", "yes")
    # A second start on the same data dir reuses the running server.
    url2, proc2, _ = start_redis(tmp_path)
    assert url2 == url and proc2 is None
    client.close()
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    assert not _redis_url_ok(url)
    url3, proc3, _ = start_redis(tmp_path)
    assert proc3 is not None
    try:
        assert redis.Redis.from_url(url3).get("kept") == b"yes"
    finally:
        proc3.terminate()
        proc3.wait(10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def _lowkey_processes(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(data_dir) in line and "ps -eo" not in line]


@pytest.mark.slow
def test_lowkey_up_serves_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    api_port, feed_port, metrics_port = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | {
        "LOWKEY_DATA_DIR": str(data_dir),
        "LOWKEY_API_PORT": str(api_port),
        "LOWKEY_FEED_PORT": str(feed_port),
        "LOWKEY_WORKER_METRICS_PORT": str(metrics_port),
    }
    cmd = [sys.executable, "-m", "services.cli", "up"]

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    first = start()
    try:
        assert _wait_http(f"http://127.0.0.1:{api_port}/healthz", 60), "api did not come up"
        assert _wait_http(f"http://127.0.0.1:{feed_port}/healthz", 10), "feed did not come up"
        ready = httpx.get(f"http://127.0.0.1:{api_port}/readyz").json()
        assert ready == {"status": "ready", "postgres": "up", "redis": "up"}
        # A second `lowkey up` on the same data dir refuses instead of double-starting.
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert _wait_http(f"http://127.0.0.1:{api_port}/healthz", 5)
        # Data written now must survive a restart.
        pg_socket_dir = data_dir.resolve() / "postgres"
        url = f"postgresql://postgres@/postgres?host={pg_socket_dir}"

        async def write() -> None:
            conn = await asyncpg.connect(url)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS kept (x int); INSERT INTO kept VALUES (42)"
            )
            await conn.close()

        asyncio.run(write())
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(60)
    time.sleep(1)
    assert _lowkey_processes(data_dir) == [], "processes left behind after Ctrl-C"

    again = start()
    try:
        assert _wait_http(f"http://127.0.0.1:{api_port}/healthz", 60)

        async def read() -> int:
            conn = await asyncpg.connect(url)
            value: int = await conn.fetchval("SELECT x FROM kept")
            await conn.close()
            return value

        assert asyncio.run(read()) == 42
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(60)
    time.sleep(1)
    assert _lowkey_processes(data_dir) == []


def test_settings_struct_is_frozen() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.api_port = 1  # type: ignore[misc]


async def test_embedded_postgres_has_room_for_a_full_rescore_in_its_wal(tmp_path: Path) -> None:
    from shared.runtime import start_postgres

    url, server = start_postgres(tmp_path)  # called inside a running loop, as tests do
    try:
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SHOW max_wal_size") == "4GB"
        finally:
            await conn.close()
    finally:
        server.cleanup()  # type: ignore[attr-defined]
