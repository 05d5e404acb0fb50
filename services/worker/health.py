"""The worker's HTTP side on LOWKEY_WORKER_METRICS_PORT: `/healthz`, `/readyz` (JSON, like
the api's and feed's) and `/metrics`, served from a thread with an event loop of its own.

Its own loop, so the answers come even while a job holds the worker's loop; the
heartbeat tells whether that loop still turns, and the watchdog ends a process whose loop
has stopped turning for good, so its supervisor starts it again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from litestar import Litestar, Request, get
from litestar.plugins.prometheus import PrometheusController
from litestar.response import Response

from services.worker import metrics
from shared.queue import connect_queue
from shared.settings import Settings

log = logging.getLogger("lowkey.worker")

CHECK_TIMEOUT_S = 2.0
# A loop that has not turned for this long is reported stalled (no job holds it so long:
# CPU-heavy scoring runs in threads, and the longest job timeout is a minute).
STALLED_AFTER_S = 20.0
# ... and past this the watchdog ends the process: the job holding the loop never gives
# it back, and neither arq's timeout nor SIGTERM can reach a loop that does not turn.
EXIT_AFTER_S = 90.0
# What the process exits with when the watchdog ends it (EX_SOFTWARE).
STALLED_EXIT_CODE = 70
RETRY_AFTER_S = 5


class LoopHeartbeat:
    """When the worker's event loop last turned."""

    def __init__(self) -> None:
        self._last = time.monotonic()

    def age_s(self) -> float:
        return time.monotonic() - self._last

    def stalled(self) -> bool:
        return self.age_s() > STALLED_AFTER_S

    async def run(self, every_s: float = 1.0) -> None:
        """Beat until cancelled (a task on the loop it watches)."""
        while True:
            self._last = time.monotonic()
            await asyncio.sleep(every_s)


async def _postgres_state(database_url: str | None) -> str:
    # A connection of its own each time: no pool to go stale, and a probe every few
    # seconds costs next to nothing.
    try:
        assert database_url is not None
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            conn = await asyncpg.connect(database_url, timeout=CHECK_TIMEOUT_S)
            try:
                await conn.fetchval("SELECT 1")
            finally:
                await conn.close()
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


def create_health_app(settings: Settings, heartbeat: LoopHeartbeat) -> Litestar:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.queue = connect_queue(settings)  # connects on first use
        try:
            yield
        finally:
            await app.state.queue.aclose()

    @get("/healthz", sync_to_thread=False)
    def healthz() -> Response[dict[str, Any]]:
        """The process is alive and its event loop turns."""
        if heartbeat.stalled():
            body = {"status": "stalled", "event_loop_idle_s": round(heartbeat.age_s(), 1)}
            return Response(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
        return Response({"status": "ok"})

    @get("/readyz")
    async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        """Ready when the worker can do its job: PostgreSQL and Redis answer (its work
        comes from the one and goes to the other) and its event loop turns."""
        postgres, redis = await asyncio.gather(
            _postgres_state(settings.database_url), _redis_state(request)
        )
        jobs = "stalled" if heartbeat.stalled() else "running"
        ready = postgres == "up" and redis == "up" and jobs == "running"
        body = {
            "status": "ready" if ready else "unavailable",
            "postgres": postgres,
            "redis": redis,
            "jobs": jobs,
        }
        headers = {} if ready else {"Retry-After": str(RETRY_AFTER_S)}
        return Response(body, status_code=200 if ready else 503, headers=headers)

    class Metrics(PrometheusController):
        """Every metric in the process's registry; `metrics` defines the worker's own."""

        path = "/metrics"

    assert metrics.JOB_SECONDS is not None  # registered before the first scrape

    return Litestar(
        route_handlers=[healthz, readyz, Metrics],
        lifespan=[lifespan],
        openapi_config=None,
        logging_config=None,  # shared.logs configures logging once per process
    )


class HealthServer:
    """The server's thread; `stop()` ends it (the process's end does too)."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    def stop(self, timeout_s: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)


def serve_health(settings: Settings, heartbeat: LoopHeartbeat) -> HealthServer:
    """Start serving; the port is bound here, so a port in use stops start-up at once."""
    sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.worker_metrics_port))
    sock.set_inheritable(False)
    config = uvicorn.Config(
        create_health_app(settings, heartbeat),
        access_log=False,
        log_config=None,
        lifespan="on",
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="lowkey-health", daemon=True
    )
    thread.start()
    return HealthServer(server, thread)


def _exit_stalled(idle_s: float) -> None:
    log.critical(
        "the worker's event loop has not turned for a long while (a job holds it);"
        " exiting so that the worker is started again",
        extra={"event_loop_idle_s": round(idle_s, 1)},
    )
    logging.shutdown()
    os._exit(STALLED_EXIT_CODE)


def start_watchdog(
    heartbeat: LoopHeartbeat,
    *,
    exit_after_s: float = EXIT_AFTER_S,
    on_stall: Callable[[float], None] = _exit_stalled,
    check_every_s: float = 1.0,
) -> threading.Thread:
    """A thread that calls `on_stall` (by default: ends the process) once the loop has
    not turned for `exit_after_s`."""

    def watch() -> None:
        while True:
            time.sleep(check_every_s)
            idle = heartbeat.age_s()
            if idle > exit_after_s:
                on_stall(idle)
                return

    thread = threading.Thread(target=watch, name="lowkey-watchdog", daemon=True)
    thread.start()
    return thread
