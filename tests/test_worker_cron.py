"""Housekeeping cron: done outbox rows and Idempotency-Key records expire after a day."""

from __future__ import annotations

from typing import Any

from services.worker.cron import prune_outbox


async def test_prune_drops_only_expired_records(pool: Any, db_clean: None) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO idempotency_records (caller_hash, key_hash, request_hash, created_at)
            VALUES ('\\x01', '\\x01', '\\x00', now() - interval '25 hours'),
                   ('\\x01', '\\x02', '\\x00', now() - interval '23 hours')
            """
        )
        await conn.execute(
            """
            INSERT INTO outbox (kind, subject_id, done_at) VALUES
              ('event', 1, now() - interval '2 days'),
              ('event', 2, now()),
              ('event', 3, NULL)
            """
        )
    await prune_outbox({"pool": pool})
    async with pool.acquire() as conn:
        keys = await conn.fetch("SELECT key_hash FROM idempotency_records")
        subjects = await conn.fetch("SELECT subject_id FROM outbox ORDER BY subject_id")
    assert [bytes(r["key_hash"]) for r in keys] == [b"\x02"]
    assert [r["subject_id"] for r in subjects] == [2, 3]
