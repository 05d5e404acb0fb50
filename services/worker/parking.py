"""Tries of the jobs that serve one outbox row: each run is counted before it starts, a
failed or timed-out run is retried later, and a row tried `MAX_ATTEMPTS` times is parked.

Counted first, so a run that hangs the process, or is SIGKILLed, counts as well: work
that breaks the worker can cost it only a few restarts, never wedge it for good. Parked
rows are logged (ids and an exception's type only, never its text, which may quote
data), counted in `/v1/admin/stats` and `/metrics`, and never enqueued again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from arq import Retry

from services.worker.metrics import JOBS_PARKED
from shared.db import outbox

log = logging.getLogger("lowkey.worker.jobs")

# Runs of one row's job, whatever ended them, before the row is parked.
MAX_ATTEMPTS = 4
# Seconds before the next try of a failed run, by attempt: long enough for a passing
# cause (a lock, a restart) to clear, short enough that a healed subject is soon scored.
RETRY_DEFER_S = (2, 10, 30)
# Our own limit is this much shorter than arq's, so a slow run ends here, as a failure
# we count and retry, rather than as arq's timeout, which is never retried.
TIMEOUT_MARGIN_S = 2

OutboxJob = TypeVar("OutboxJob", bound=Callable[..., Awaitable[int]])


def counted_tries(kind: str, timeout_s: float) -> Callable[[OutboxJob], OutboxJob]:
    """Wrap an outbox job `(ctx, outbox_id, subject_id)`; arq's timeout for it is `timeout_s`."""

    def wrap(job: OutboxJob) -> OutboxJob:
        @functools.wraps(job)
        async def run(ctx: dict[str, Any], outbox_id: int, subject_id: int) -> int:
            pool = ctx["pool"]
            try:
                attempt = await outbox.start_attempt(pool, outbox_id)
            except Exception as exc:  # the database is away: not a try of the work
                raise Retry(defer=1) from exc
            if attempt is None:
                return 0  # done, parked or erased meanwhile
            if attempt > MAX_ATTEMPTS:
                # The last run never reported back: it hung, was killed or lost its server.
                await park(pool, kind, outbox_id, subject_id, attempt - 1, "unfinished")
                return 0
            try:
                async with asyncio.timeout(timeout_s - TIMEOUT_MARGIN_S):
                    return await job(ctx, outbox_id, subject_id)
            except Retry:
                raise  # a passing conflict (retry_transient); this run has counted
            except Exception as exc:
                error = type(exc).__name__
                if attempt >= MAX_ATTEMPTS:
                    await park(pool, kind, outbox_id, subject_id, attempt, error)
                    return 0
                defer = RETRY_DEFER_S[min(attempt, len(RETRY_DEFER_S)) - 1]
                log.warning(
                    "job failed; it will be tried again",
                    extra={
                        "kind": kind,
                        "outbox_id": outbox_id,
                        "subject_id": subject_id,
                        "attempt": attempt,
                        "error": error,
                        "retry_in_s": defer,
                    },
                )
                raise Retry(defer=defer) from exc

        return cast(OutboxJob, run)

    return wrap


async def park(
    pool: Any, kind: str, outbox_id: int, subject_id: int, attempts: int, error: str
) -> None:
    await outbox.park(pool, outbox_id, error)
    JOBS_PARKED.labels(kind).inc()
    log.error(
        "job parked after repeated failures; it will not be tried again",
        extra={
            "kind": kind,
            "outbox_id": outbox_id,
            "subject_id": subject_id,
            "attempts": attempts,
            "error": error,
        },
    )
