"""SQL for the organisers table."""

from __future__ import annotations

import asyncpg

SELECT_BY_KEY_HASH = "SELECT id, name FROM organisers WHERE key_hash = $1 AND revoked_at IS NULL"


async def organiser_id_by_key_hash(conn: asyncpg.Connection, key_hash: bytes) -> int | None:
    row = await conn.fetchrow(SELECT_BY_KEY_HASH, key_hash)
    return None if row is None else int(row["id"])
