"""SQL for user_sessions: the server-side sessions of people signed in to their pages."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

INSERT = """
INSERT INTO user_sessions (id_hash, profile_id, token_sealed, key_pending, expires_at)
VALUES ($1, $2, $3, $4, $5)
"""
# A live session only; the profile row must still exist (ON DELETE CASCADE removes it too).
SELECT_LIVE = """
SELECT profile_id, token_sealed, key_pending FROM user_sessions
WHERE id_hash = $1 AND expires_at > now()
"""
# The key is shown once: whoever clears the flag first shows it.
TAKE_KEY = """
UPDATE user_sessions SET key_pending = false
WHERE id_hash = $1 AND key_pending AND expires_at > now()
RETURNING true
"""
DELETE_ONE = "DELETE FROM user_sessions WHERE id_hash = $1"
DELETE_EXPIRED = "DELETE FROM user_sessions WHERE expires_at <= now()"


class LiveSession(msgspec.Struct, frozen=True, kw_only=True):
    profile_id: int
    token_sealed: bytes
    key_pending: bool


async def create_session(
    conn: asyncpg.Connection,
    id_hash: bytes,
    profile_id: int,
    token_sealed: bytes,
    *,
    expires_at: datetime,
    key_pending: bool = False,
) -> None:
    await conn.execute(INSERT, id_hash, profile_id, token_sealed, key_pending, expires_at)


async def live_session(conn: asyncpg.Connection, id_hash: bytes) -> LiveSession | None:
    row = await conn.fetchrow(SELECT_LIVE, id_hash)
    return None if row is None else LiveSession(**dict(row))


async def take_pending_key(conn: asyncpg.Connection, id_hash: bytes) -> bool:
    """True exactly once after sign-up: the caller may show the private key now."""
    return bool(await conn.fetchval(TAKE_KEY, id_hash))


async def delete_session(conn: asyncpg.Connection, id_hash: bytes) -> None:
    await conn.execute(DELETE_ONE, id_hash)


async def delete_expired_sessions(conn: asyncpg.Connection) -> None:
    await conn.execute(DELETE_EXPIRED)
