"""The API behind a real uvicorn socket, configured as `lowkey` runs it
(`shared.http.server`): a body that does not arrive in time gets 408 and its connection is
closed, a declared length over 64 KiB gets 413 before a byte of body is sent, and
`/healthz` answers all the while.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import uvicorn

from services.api.app import create_app
from shared.http import body_limit
from shared.http.server import server_config
from shared.settings import Settings
from tests.browser import free_port

TIMEOUT_S = 0.5  # the body-read timeout for these tests (10 s in production)
SOCKETS = 100


@pytest.fixture
def live_api(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The API on a loopback port; yields the port."""
    monkeypatch.setattr(body_limit, "BODY_READ_TIMEOUT_S", TIMEOUT_S)
    port = free_port()
    server = uvicorn.Server(server_config(create_app(settings), "127.0.0.1", port))
    thread = threading.Thread(target=server.run, name="uvicorn-limits", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def head(path: str, length: int, *extra: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def answer_and_close(reader: asyncio.StreamReader, within_s: float) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), timeout=within_s)


async def idempotency_rows(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM idempotency_records")
        return count


async def test_half_sent_bodies_get_408_and_are_closed(live_api: int, pool: asyncpg.Pool) -> None:
    before = await idempotency_rows(pool)
    connections = []
    for i in range(SOCKETS):
        reader, writer = await asyncio.open_connection("127.0.0.1", live_api)
        writer.write(head("/v1/profiles", 1000, f"Idempotency-Key: half-{i}") + b"{" * 500)
        await writer.drain()
        connections.append((reader, writer))
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live_api}") as client:
        health = await client.get("/healthz", timeout=1)
    assert health.status_code == 200
    answers = await asyncio.gather(
        *(answer_and_close(reader, TIMEOUT_S + 3) for reader, _ in connections)
    )
    elapsed = time.perf_counter() - started
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"application/problem+json" in answer
    assert elapsed < TIMEOUT_S + 3
    for _, writer in connections:
        writer.close()
    assert await idempotency_rows(pool) == before


async def test_a_declared_length_over_64_kib_is_refused_before_the_body(live_api: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", live_api)
    writer.write(head("/v1/profiles", 120_000_000, "Idempotency-Key: huge"))
    await writer.drain()
    answer = await answer_and_close(reader, 1)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"connection: close" in answer.lower()


async def test_a_body_that_arrives_in_time_is_answered(live_api: int) -> None:
    """The timeout is for the body as a whole: one sent in pieces, in time, is read."""
    body = b'{"radius_km": 5}'
    reader, writer = await asyncio.open_connection("127.0.0.1", live_api)
    writer.write(head("/v1/profiles", len(body), "Connection: close") + body[:5])
    await writer.drain()
    await asyncio.sleep(TIMEOUT_S / 3)
    writer.write(body[5:])
    await writer.drain()
    answer = await answer_and_close(reader, 2)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 422 "), answer[:200]  # read, and found lacking
