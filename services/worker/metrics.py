"""The worker's Prometheus metrics: job durations and failures, parked jobs, outbox and
queue depth. Served at `/metrics` beside the worker's health (services/worker/health.py).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from redis.exceptions import RedisError

from shared.db import outbox
from shared.settings import Settings

JOB_SECONDS = Histogram(
    "lowkey_job_duration_seconds",
    "Time spent in one job run",
    ["function"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
JOB_FAILURES = Counter("lowkey_job_failures_total", "Job runs that raised", ["function"])
JOBS_PARKED = Counter(
    "lowkey_jobs_parked_total", "Outbox jobs parked after repeated failures", ["kind"]
)
OUTBOX_DEPTH = Gauge("lowkey_outbox_depth", "Outbox rows not yet done (parked ones aside)")
PARKED_DEPTH = Gauge("lowkey_parked_jobs", "Outbox rows parked: tried too often, never run again")
QUEUE_DEPTH = Gauge("lowkey_queue_depth", "Jobs waiting in the arq queue")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def measured(fn: F) -> F:
    """Time a job function and count its failures, keeping its name for arq."""
    name = fn.__name__

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        except Exception:
            JOB_FAILURES.labels(name).inc()
            raise
        finally:
            JOB_SECONDS.labels(name).observe(time.perf_counter() - started)

    return wrapper  # type: ignore[return-value]


async def sample_depths(ctx: dict[str, Any]) -> None:
    """Cron: refresh the outbox, parked and queue depth gauges."""
    settings: Settings = ctx["settings"]
    async with ctx["pool"].acquire() as conn:
        OUTBOX_DEPTH.set(await outbox.count_pending(conn))
        PARKED_DEPTH.set(await outbox.count_parked(conn))
    with contextlib.suppress(RedisError):
        QUEUE_DEPTH.set(await ctx["redis"].zcard(settings.queue_name))
