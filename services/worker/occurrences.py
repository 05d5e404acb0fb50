"""Cron work for check-ins: record, as occurrences of matched events start, that each was
a match then (with the event's intensity and the user's comfort level), purge records 14
days after their occurrence ended, and end stretch pauses whose time has come.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from services.worker.metrics import measured
from shared import timeutil
from shared.checkins import ANSWER_WINDOW
from shared.db import checkins as db
from shared.db.outbox import add_outbox
from shared.queue import enqueue_after_commit

log = logging.getLogger("lowkey.worker.occurrences")

FIRST_LOOKBACK = timedelta(minutes=15)  # the very first run records starts this far back
# Each run looks again this far behind the last: a match written just after its event
# started (scored a moment late) was a match at the start all the same. Records are kept
# once (ON CONFLICT DO NOTHING), so the overlap never doubles one.
OVERLAP = timedelta(minutes=10)
# After a long outage, starts older than this are not recorded: a record made a day late
# would carry a comfort level that was not the one at the start.
MAX_CATCH_UP = timedelta(days=1)


@measured
async def record_started_occurrences(ctx: dict[str, Any]) -> int:
    """Record every match whose event had an occurrence start since the last run."""
    now = datetime.now(UTC)
    async with ctx["pool"].acquire() as conn, conn.transaction():
        last = await db.claim_recorder(conn, now - FIRST_LOOKBACK)
        since = max(last - OVERLAP, now - MAX_CATCH_UP)
        started: list[tuple[int, datetime, datetime, datetime]] = []
        for event in await db.matched_events_starting(conn, since, now):
            found = timeutil.stored_schedule(*event, now)
            if isinstance(found, timeutil.Refusal):
                continue
            for start in found.starts_between(since, now):
                utc = start.astimezone(UTC)
                started.append((event.id, start.replace(tzinfo=None), utc, utc + found.duration))
        recorded = await db.record_occurrences(conn, started)
        await db.set_recorder(conn, now)
        await db.purge_occurrences(conn, now - ANSWER_WINDOW)
    if recorded:
        log.info("matched occurrences recorded", extra={"count": recorded})
    return recorded


@measured
async def end_stretch_pauses(ctx: dict[str, Any]) -> int:
    """Clear stretch pauses that have run their 14 days and re-score those profiles."""
    pool, settings = ctx["pool"], ctx["settings"]
    async with pool.acquire() as conn, conn.transaction():
        profiles = await db.end_due_pauses(conn, datetime.now(UTC))
        work = [(await add_outbox(conn, "profile", pid), pid) for pid in profiles]
    for outbox_id, pid in work:
        await enqueue_after_commit(
            pool, ctx["redis"], settings.redis_prefix, "profile", outbox_id, pid
        )
    return len(work)
