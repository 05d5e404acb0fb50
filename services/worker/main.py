"""Wires the worker process: two arq Workers sharing one process.

The main Worker takes per-subject jobs and cron on `settings.queue_name`; the chunk
Worker takes full re-score chunks from `settings.chunk_queue_name` one at a time, so a
re-score never crowds out new events and a chunk never waits on its siblings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from typing import Any

from arq.worker import Worker, func

from services.worker import jobs
from services.worker.cron import CRON_JOBS
from services.worker.health import LoopHeartbeat, serve_health, start_watchdog
from shared.db.pool import create_pool
from shared.queue import redis_settings
from shared.settings import Settings

log = logging.getLogger("lowkey.worker")

# Every job with its own short timeout (a killed job is re-run after the longest + 10 s).
FUNCTIONS = [
    func(jobs.score_event, timeout=jobs.SCORE_TIMEOUT_S),
    func(jobs.score_profile, timeout=jobs.SCORE_TIMEOUT_S),
    func(jobs.rescore_all, timeout=jobs.RESCORE_ALL_TIMEOUT_S),
    func(jobs.index_rescore_part, timeout=jobs.INDEX_TIMEOUT_S),
]
CHUNK_FUNCTIONS = [
    func(jobs.rescore_chunk, timeout=jobs.CHUNK_TIMEOUT_S),
    func(jobs.finish_rescore, timeout=jobs.FINISH_TIMEOUT_S),
]


def _lifecycle(settings: Settings) -> dict[str, Any]:

    async def startup(ctx: dict[str, Any]) -> None:
        assert settings.database_url is not None
        ctx["settings"] = settings
        ctx["pool"] = await create_pool(settings.database_url, max_size=4)

    async def shutdown(ctx: dict[str, Any]) -> None:
        pool = ctx.get("pool")
        if pool is not None:
            await pool.close()

    return {"on_startup": startup, "on_shutdown": shutdown}


def create_worker(settings: Settings, **overrides: Any) -> Worker:
    """The main arq Worker; `overrides` (e.g. burst=True) are for tests."""
    options: dict[str, Any] = {
        **_lifecycle(settings),
        "functions": FUNCTIONS,
        # Fresh copies: arq keeps each cron's next run on the CronJob itself, so a shared
        # list would make a second Worker in one process skip its start-up runs.
        "cron_jobs": [dataclasses.replace(c, next_run=None) for c in CRON_JOBS],
        "redis_settings": redis_settings(settings),
        "queue_name": settings.queue_name,
        "handle_signals": False,
        "max_jobs": 4,
        # arq polls the queue (default every 0.5 s): that delay is most of a new event's
        # time to match; 0.1 s costs ten cheap Redis reads a second per worker.
        "poll_delay": 0.1,
        "job_timeout": 20,
        "keep_result": 0,
    }
    options.update(overrides)
    return Worker(**options)


def create_chunk_worker(settings: Settings, **overrides: Any) -> Worker:
    """The Worker for full re-score chunks: one at a time, each a big set-based write."""
    options: dict[str, Any] = {
        **_lifecycle(settings),
        "functions": CHUNK_FUNCTIONS,
        "redis_settings": redis_settings(settings),
        "queue_name": settings.chunk_queue_name,
        "handle_signals": False,
        "max_jobs": 1,
        "poll_delay": 0.1,
        "job_timeout": jobs.CHUNK_TIMEOUT_S,
        "keep_result": 0,
    }
    options.update(overrides)
    return Worker(**options)


async def run_workers(
    workers: list[Worker], stop: asyncio.Event, heartbeat: LoopHeartbeat | None = None
) -> None:
    """Run the Workers until `stop` is set or one of them ends (Redis lost: the process
    exits and its supervisor starts it again; pending work waits in the outbox)."""
    tasks = [asyncio.create_task(w.async_run()) for w in workers]
    stopper = asyncio.create_task(stop.wait())
    beating = [asyncio.create_task(heartbeat.run())] if heartbeat is not None else []
    try:
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if t is not stopper and t.exception() is not None]
    finally:
        for task in [stopper, *beating, *tasks]:
            task.cancel()
        await asyncio.gather(*tasks, *beating, return_exceptions=True)
        for worker in workers:
            await worker.close()
    if failed:
        raise failed[0].exception()  # type: ignore[misc]


async def run_worker(settings: Settings) -> None:
    """`lowkey worker`: both Workers until SIGINT/SIGTERM, with health and metrics served
    beside them and a watchdog for a loop that stops turning."""
    heartbeat = LoopHeartbeat()
    health = serve_health(settings, heartbeat)
    start_watchdog(heartbeat)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker started",
        extra={
            "queues": [settings.queue_name, settings.chunk_queue_name],
            "health": f"http://{settings.host}:{settings.worker_metrics_port}/healthz",
        },
    )
    try:
        await run_workers([create_worker(settings), create_chunk_worker(settings)], stop, heartbeat)
    finally:
        health.stop()
