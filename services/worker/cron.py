"""Scheduled jobs: keep the outbox and re-score chunks honest (re-enqueue what is pending,
prune what is done), drop matches of events that are over, and a nightly full re-score.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from arq import cron

from services.worker.jobs import CHUNK_TIMEOUT_S, FINISH_TIMEOUT_S, enqueue_chunk, enqueue_finish
from services.worker.metrics import measured, sample_depths
from services.worker.occurrences import end_stretch_pauses, record_started_occurrences
from shared.db import events as db_events
from shared.db import idempotency, outbox, rescore
from shared.db.matches import drop_over_matches
from shared.db.weights import active_version
from shared.queue import enqueue_after_commit, enqueue_outbox
from shared.timeutil import Refusal, stored_schedule

log = logging.getLogger("lowkey.worker.cron")

# An enqueued row not done after this long is assumed lost (Redis restarted, job
# killed) and enqueued again; the job id keeps a still-queued job from doubling.
STALE_AFTER_S = 30.0
# A chunk not done this long after it was enqueued was lost (Redis restarted) or failed
# for good; arq itself re-runs a killed one after its timeout + 10 s.
CHUNK_STALE_AFTER_S = CHUNK_TIMEOUT_S + 25.0
SWAP_STALE_AFTER_S = FINISH_TIMEOUT_S + 25.0
REFUSED_SCAN_PAGE = 1000


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


@measured
async def sweep_rescore_chunks(ctx: dict[str, Any]) -> int:
    """Enqueue again the chunks of unfinished re-score runs that are long overdue, and the
    swaps of runs whose chunks are all done but whose last chunk did not swap."""
    pool, queue, settings = ctx["pool"], ctx["redis"], ctx["settings"]
    enqueued = 0
    async with pool.acquire() as conn, conn.transaction():
        for row in await rescore.claim_lost_chunks(conn, older_than_s=CHUNK_STALE_AFTER_S):
            if not await enqueue_chunk(queue, settings, row["run_id"], row["chunk_no"]):
                break
            await rescore.mark_chunk_enqueued(conn, row["run_id"], row["chunk_no"])
            enqueued += 1
        for run_id in await rescore.unswapped_runs(conn, older_than_s=SWAP_STALE_AFTER_S):
            if not await enqueue_finish(queue, settings, run_id):
                break
            enqueued += 1
    if enqueued:
        log.info("re-score chunks enqueued again", extra={"count": enqueued})
    return enqueued


@measured
async def prune_outbox(ctx: dict[str, Any]) -> None:
    """Drop done outbox rows and Idempotency-Key records past their 24 h."""
    async with ctx["pool"].acquire() as conn:
        await outbox.delete_old_done(conn)
        await idempotency.delete_expired(conn)


@measured
async def drop_over(ctx: dict[str, Any]) -> int:
    """Delete the matches of events over for a week (the API skips them at once; the feed
    keeps this week's, whose slots stay theirs)."""
    async with ctx["pool"].acquire() as conn:
        dropped = await drop_over_matches(conn, datetime.now(UTC))
    if dropped:
        log.info("matches of events over dropped", extra={"count": dropped})
    return dropped


@measured
async def close_refused_events(ctx: dict[str, Any]) -> int:
    """Mark over the stored events whose rule or times today's bounds refuse (rows saved
    before the bounds existed): scoring already treats them as over, and this makes the
    search and the match lists, which filter on `over_at`, agree. Each one's score job
    drops its matches."""
    pool, queue, prefix = ctx["pool"], ctx["redis"], ctx["settings"].redis_prefix
    now, after, closed = datetime.now(UTC), 0, []
    while True:
        async with pool.acquire() as conn:
            rows = await db_events.open_scheduled(conn, after, REFUSED_SCAN_PAGE)
        if not rows:
            break
        after = rows[-1]["id"]
        refused = [
            r["id"]
            for r in rows
            if isinstance(
                stored_schedule(
                    r["id"], r["starts_at"], r["ends_at"], r["timezone"], r["recurrence"], now
                ),
                Refusal,
            )
        ]
        if not refused:
            continue
        async with pool.acquire() as conn, conn.transaction():
            marked = await db_events.mark_over(conn, refused)
            boxes = [(await outbox.add_outbox(conn, "event", e), e) for e in marked]
        for outbox_id, event_id in boxes:
            await enqueue_after_commit(pool, queue, prefix, "event", outbox_id, event_id)
        closed += marked
    if closed:
        log.warning(
            "stored events refused by the event rules marked over", extra={"count": len(closed)}
        )
    return len(closed)


@measured
async def nightly_rescore(ctx: dict[str, Any]) -> None:
    """A full re-score through the outbox: it heals anything a lost or failed job left
    behind, and time-dependent eligibility (weights need none: they apply at read)."""
    pool, settings = ctx["pool"], ctx["settings"]
    async with pool.acquire() as conn, conn.transaction():
        version = (await active_version(conn)).version
        await rescore.add_run(conn, version, "nightly")
        outbox_id = await outbox.add_outbox(conn, "rescore", version)
    await enqueue_after_commit(
        pool, ctx["redis"], settings.redis_prefix, "rescore", outbox_id, version
    )


CRON_JOBS = [
    cron(sweep_outbox, second={0, 10, 20, 30, 40, 50}, run_at_startup=True, timeout=20),
    cron(sweep_rescore_chunks, second={3, 33}, run_at_startup=True, timeout=20),
    cron(prune_outbox, minute={17}, second=0, timeout=20),
    cron(drop_over, minute=set(range(0, 60, 5)), second=40, run_at_startup=True, timeout=20),
    cron(close_refused_events, hour={4}, minute={10}, second=0, run_at_startup=True, timeout=60),
    # Not at start-up: every restart would otherwise re-score the whole city.
    cron(nightly_rescore, hour={3}, minute={30}, second=0, timeout=10),
    cron(sample_depths, second={5, 15, 25, 35, 45, 55}, timeout=5),
    # Check-ins: a match at each occurrence's start, recorded within a minute of it.
    cron(record_started_occurrences, second={25}, run_at_startup=True, timeout=20),
    cron(end_stretch_pauses, second={50}, run_at_startup=True, timeout=20),
]
