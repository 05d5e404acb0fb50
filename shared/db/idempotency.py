"""SQL for idempotency_records: one row per (caller, Idempotency-Key), kept 24 h.

Caller and key are stored only as keyed hashes; the stored answer is sealed.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# Records are kept 24 h; a first attempt still "running" after 120 s was lost (client
# gone, process killed) and may be taken over. Both numbers are written in the SQL below.
ABANDONED_AFTER_S = 120

# Claims the key, or takes over a record that expired or was abandoned mid-flight.
CLAIM = """
INSERT INTO idempotency_records (caller_hash, key_hash, request_hash, profile_id)
VALUES ($1, $2, $3, $4)
ON CONFLICT (caller_hash, key_hash) DO UPDATE
SET request_hash = EXCLUDED.request_hash, profile_id = EXCLUDED.profile_id,
    status_code = NULL, response = NULL, sealed = false, created_at = now()
WHERE idempotency_records.created_at < now() - interval '24 hours'
   OR (idempotency_records.status_code IS NULL
       AND idempotency_records.created_at < now() - interval '120 seconds')
RETURNING true
"""
SELECT_RECORD = """
SELECT request_hash, status_code, response FROM idempotency_records
WHERE caller_hash = $1 AND key_hash = $2
"""
COMPLETE = """
UPDATE idempotency_records
SET status_code = $3, response = $4, sealed = true, profile_id = coalesce($5, profile_id)
WHERE caller_hash = $1 AND key_hash = $2 AND status_code IS NULL
"""
RELEASE = """
DELETE FROM idempotency_records WHERE caller_hash = $1 AND key_hash = $2 AND status_code IS NULL
"""
COUNT_FOR_PROFILE = "SELECT count(*) FROM idempotency_records WHERE profile_id = $1"
DELETE_EXPIRED = """
DELETE FROM idempotency_records WHERE created_at < now() - interval '24 hours'
"""


@dataclass(frozen=True)
class IdempotencyRecord:
    request_hash: bytes
    status_code: int | None  # None while the first request is still running
    response: bytes | None


async def claim_key(
    conn: asyncpg.Connection,
    caller_hash: bytes,
    key_hash: bytes,
    request_hash: bytes,
    profile_id: int | None,
) -> IdempotencyRecord | None:
    """None when this request now owns the key; else the record already holding it."""
    if await conn.fetchval(CLAIM, caller_hash, key_hash, request_hash, profile_id):
        return None
    row = await conn.fetchrow(SELECT_RECORD, caller_hash, key_hash)
    if row is None:  # released between the two statements: ask again once
        if await conn.fetchval(CLAIM, caller_hash, key_hash, request_hash, profile_id):
            return None
        row = await conn.fetchrow(SELECT_RECORD, caller_hash, key_hash)
        if row is None:
            return IdempotencyRecord(request_hash, None, None)
    return IdempotencyRecord(row["request_hash"], row["status_code"], row["response"])


async def complete_key(
    conn: asyncpg.Connection,
    caller_hash: bytes,
    key_hash: bytes,
    *,
    status_code: int,
    sealed_response: bytes,
    profile_id: int | None,
) -> None:
    await conn.execute(COMPLETE, caller_hash, key_hash, status_code, sealed_response, profile_id)


async def release_key(conn: asyncpg.Connection, caller_hash: bytes, key_hash: bytes) -> None:
    """Forget an unfinished claim so a retry runs afresh."""
    await conn.execute(RELEASE, caller_hash, key_hash)


async def count_for_profile(conn: asyncpg.Connection, profile_id: int) -> int:
    n: int = await conn.fetchval(COUNT_FOR_PROFILE, profile_id)
    return n


async def delete_expired(conn: asyncpg.Connection) -> None:
    """For a cleanup cron: records older than 24 h no longer protect anything."""
    await conn.execute(DELETE_EXPIRED)
