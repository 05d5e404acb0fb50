"""SQL for console_sessions: admin console sign-ins, by the keyed hash of their id."""

from __future__ import annotations

import asyncpg

INSERT_SESSION = """
INSERT INTO console_sessions (id_hash, admin_fingerprint, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
"""
DELETE_EXPIRED = "DELETE FROM console_sessions WHERE expires_at <= now()"
SELECT_FINGERPRINT = """
SELECT admin_fingerprint FROM console_sessions WHERE id_hash = $1 AND expires_at > now()
"""
DELETE_SESSION = "DELETE FROM console_sessions WHERE id_hash = $1"


async def add_session(
    conn: asyncpg.Connection, id_hash: bytes, admin_fingerprint: bytes, lifetime_s: int
) -> None:
    """A new session; the expired ones go at the same time (sign-ins are rare)."""
    async with conn.transaction():
        await conn.execute(DELETE_EXPIRED)
        await conn.execute(INSERT_SESSION, id_hash, admin_fingerprint, float(lifetime_s))


async def session_fingerprint(conn: asyncpg.Connection, id_hash: bytes) -> bytes | None:
    """The admin key fingerprint a live session was made under; None when there is none."""
    held: bytes | None = await conn.fetchval(SELECT_FINGERPRINT, id_hash)
    return held


async def delete_session(conn: asyncpg.Connection, id_hash: bytes) -> None:
    await conn.execute(DELETE_SESSION, id_hash)
