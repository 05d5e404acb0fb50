"""Wires the worker process: the arq Worker with every job function and cron job."""

from __future__ import annotations

import dataclasses
from typing import Any

from arq.worker import Worker, func

from services.worker import jobs
from services.worker.cron import CRON_JOBS
from services.worker.metrics import serve_metrics
from shared.db.pool import create_pool
from shared.queue import redis_settings
from shared.settings import Settings

# Every job with its own short timeout (a killed job is re-run after the longest + 10 s).
FUNCTIONS = [
    func(jobs.score_event, timeout=jobs.SCORE_TIMEOUT_S),
    func(jobs.score_profile, timeout=jobs.SCORE_TIMEOUT_S),
    func(jobs.rescore_all, timeout=jobs.RESCORE_ALL_TIMEOUT_S),
    func(jobs.rescore_chunk, timeout=jobs.CHUNK_TIMEOUT_S),
]


def create_worker(settings: Settings, **overrides: Any) -> Worker:
    """An arq Worker for these settings; `overrides` (e.g. burst=True) are for tests."""

    async def startup(ctx: dict[str, Any]) -> None:
        assert settings.database_url is not None
        ctx["settings"] = settings
        ctx["pool"] = await create_pool(settings.database_url, max_size=4)

    async def shutdown(ctx: dict[str, Any]) -> None:
        pool = ctx.get("pool")
        if pool is not None:
            await pool.close()

    options: dict[str, Any] = {
        "functions": FUNCTIONS,
        # Fresh copies: arq keeps each cron's next run on the CronJob itself, so a shared
        # list would make a second Worker in one process skip its start-up runs.
        "cron_jobs": [dataclasses.replace(c, next_run=None) for c in CRON_JOBS],
        "redis_settings": redis_settings(settings),
        "queue_name": settings.queue_name,
        "on_startup": startup,
        "on_shutdown": shutdown,
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


async def run_worker(settings: Settings) -> None:
    """`lowkey worker`: run until SIGINT/SIGTERM (arq's own signal handling)."""
    serve_metrics(settings)
    worker = create_worker(settings, handle_signals=True)
    try:
        await worker.async_run()
    finally:
        await worker.close()
