"""`/healthz` (the process is alive) and `/readyz` (it can do its main job).

Ready means PostgreSQL answers; Redis is reported too, but its outage alone never
makes a service unready, since writes wait in the outbox until Redis is back.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, get
from litestar.response import Response

CHECK_TIMEOUT_S = 2.0


async def _postgres_state(request: Request[Any, Any, Any]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            async with request.app.state.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
    except Exception:
        return "down"
    return "up"


async def _redis_state(request: Request[Any, Any, Any]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await request.app.state.queue.ping()
    except Exception:
        return "down"
    return "up"


@get("/healthz", sync_to_thread=False, include_in_schema=True, tags=["operators"])
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@get("/readyz", tags=["operators"])
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Ready when PostgreSQL answers; the body gives each dependency's state."""
    postgres, redis = await asyncio.gather(_postgres_state(request), _redis_state(request))
    ready = postgres == "up"
    body = {"status": "ready" if ready else "unavailable", "postgres": postgres, "redis": redis}
    headers = {} if ready else {"Retry-After": "5"}
    return Response(body, status_code=200 if ready else 503, headers=headers)
