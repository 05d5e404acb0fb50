"""The transactional outbox: "this must be (re-)scored", written with the change itself.

A row is pending until its job marks it done in the job's own transaction; every run
that starts counts an attempt first, and a row tried too often is parked (migration 0012):
the sweep never enqueues it again, and the overview counts it.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

INSERT = "INSERT INTO outbox (kind, subject_id) VALUES ($1, $2) RETURNING id"
MARK_ENQUEUED = "UPDATE outbox SET enqueued_at = now() WHERE id = $1"
# The clock, not the transaction's start: a job marks done under the writers' lock, and a
# re-score's swap compares this with the time its fan-out took that lock.
MARK_DONE = """
UPDATE outbox SET done_at = clock_timestamp() WHERE id = ANY($1::bigint[]) AND done_at IS NULL
"""
# Scoring jobs done since a re-score was fanned out wrote to the table its swap replaced.
REOPEN_DONE_SINCE = """
UPDATE outbox SET done_at = NULL, enqueued_at = NULL, attempts = 0
WHERE kind IN ('event', 'profile') AND done_at >= $1
RETURNING id, kind, subject_id
"""
CLAIM_PENDING = """
SELECT id, kind, subject_id FROM outbox
WHERE done_at IS NULL AND parked_at IS NULL
  AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => $1))
ORDER BY id
LIMIT $2
FOR UPDATE SKIP LOCKED
"""
COUNT_PENDING = "SELECT count(*) FROM outbox WHERE done_at IS NULL AND parked_at IS NULL"
COUNT_PARKED = "SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL AND done_at IS NULL"
# Its own statement, committed before the work starts: a run that hangs, times out or is
# killed has counted. NULL when the row is done, parked or gone (nothing to run).
START_ATTEMPT = """
UPDATE outbox SET attempts = attempts + 1
WHERE id = $1 AND done_at IS NULL AND parked_at IS NULL
RETURNING attempts
"""
PARK = """
UPDATE outbox SET parked_at = now(), last_error = $2
WHERE id = $1 AND done_at IS NULL AND parked_at IS NULL
"""
DELETE_FOR_PROFILE = "DELETE FROM outbox WHERE kind = 'profile' AND subject_id = $1 RETURNING id"
DELETE_OLD_DONE = "DELETE FROM outbox WHERE done_at < now() - interval '1 day'"
# A parked row is moot once later work on the same subject is done (the subject was fixed
# or deleted and scored again): only rows still standing for a stuck subject are counted.
DELETE_MOOT_PARKED = """
DELETE FROM outbox p
WHERE p.parked_at IS NOT NULL AND p.done_at IS NULL
  AND EXISTS (SELECT 1 FROM outbox d
              WHERE d.kind = p.kind AND d.subject_id = p.subject_id AND d.id > p.id
                AND d.done_at IS NOT NULL)
"""


async def add_outbox(conn: asyncpg.Connection, kind: str, subject_id: int) -> int:
    """Record work in the caller's transaction; returns the outbox row id."""
    outbox_id: int = await conn.fetchval(INSERT, kind, subject_id)
    return outbox_id


async def mark_enqueued(conn: asyncpg.Connection, outbox_id: int) -> None:
    await conn.execute(MARK_ENQUEUED, outbox_id)


async def mark_done(conn: asyncpg.Connection, outbox_ids: list[int]) -> None:
    await conn.execute(MARK_DONE, outbox_ids)


async def reopen_done_since(conn: asyncpg.Connection, since: datetime) -> list[asyncpg.Record]:
    """Mark scoring work done at or after `since` as pending again; returns those rows."""
    rows: list[asyncpg.Record] = await conn.fetch(REOPEN_DONE_SINCE, since)
    return rows


async def claim_pending(
    conn: asyncpg.Connection, *, older_than_s: float, limit: int = 500
) -> list[asyncpg.Record]:
    """Rows not done whose enqueue is missing or stale; call inside a transaction."""
    rows: list[asyncpg.Record] = await conn.fetch(CLAIM_PENDING, older_than_s, limit)
    return rows


async def count_pending(conn: asyncpg.Connection) -> int:
    """Rows still to be run (parked ones are not: nothing will run them)."""
    n: int = await conn.fetchval(COUNT_PENDING)
    return n


async def count_parked(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    n: int = await conn.fetchval(COUNT_PARKED)
    return n


async def start_attempt(conn: asyncpg.Connection | asyncpg.Pool, outbox_id: int) -> int | None:
    """Count one run of the row's job (outside the job's transaction); the attempt's
    number, or None when there is nothing to run (done, parked or erased)."""
    attempt: int | None = await conn.fetchval(START_ATTEMPT, outbox_id)
    return attempt


async def park(conn: asyncpg.Connection | asyncpg.Pool, outbox_id: int, error: str) -> None:
    """Stop trying the row: the sweep skips it from now on. `error` is a type name only."""
    await conn.execute(PARK, outbox_id, error[:80])


async def delete_for_profile(conn: asyncpg.Connection, profile_id: int) -> list[int]:
    """Erase a profile's queued work; returns the outbox ids (to drop their arq jobs)."""
    return [r["id"] for r in await conn.fetch(DELETE_FOR_PROFILE, profile_id)]


async def delete_old_done(conn: asyncpg.Connection) -> None:
    await conn.execute(DELETE_OLD_DONE)
    await conn.execute(DELETE_MOOT_PARKED)
