"""Scheduled jobs that keep the outbox honest: re-enqueue what is pending, prune what is done."""

from __future__ import annotations

import logging
from typing import Any

from arq import cron

from services.worker.metrics import measured, sample_depths
from shared.db import outbox
from shared.queue import enqueue_outbox

log = logging.getLogger("lowkey.worker.cron")

# An enqueued row not done after this long is assumed lost (Redis restarted, job
# killed) and enqueued again; the job id keeps a still-queued job from doubling.
STALE_AFTER_S = 30.0


@measured
async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Enqueue every outbox row that is not done and not freshly enqueued."""
    pool, queue, prefix = ctx["pool"], ctx["redis"], ctx["settings"].redis_prefix
    enqueued = 0
    async with pool.acquire() as conn, conn.transaction():
        for row in await outbox.claim_pending(conn, older_than_s=STALE_AFTER_S):
            if not await enqueue_outbox(queue, prefix, row["kind"], row["id"], row["subject_id"]):
                break
            await outbox.mark_enqueued(conn, row["id"])
            enqueued += 1
    if enqueued:
        log.info("outbox sweep enqueued work", extra={"count": enqueued})
    return enqueued


async def prune_outbox(ctx: dict[str, Any]) -> None:
    async with ctx["pool"].acquire() as conn:
        await outbox.delete_old_done(conn)


CRON_JOBS = [
    cron(sweep_outbox, second={0, 10, 20, 30, 40, 50}, run_at_startup=True, timeout=20),
    cron(prune_outbox, minute={17}, second=0, timeout=60),
    cron(sample_depths, second={5, 15, 25, 35, 45, 55}, timeout=5),
]
