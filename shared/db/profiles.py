"""SQL for the profiles table (and what hangs off a profile)."""

from __future__ import annotations

import asyncpg

SELECT_ID_BY_TOKEN_HASH = "SELECT id FROM profiles WHERE token_hash = $1"


async def profile_id_by_token_hash(conn: asyncpg.Connection, token_hash: bytes) -> int | None:
    value = await conn.fetchval(SELECT_ID_BY_TOKEN_HASH, token_hash)
    return None if value is None else int(value)
