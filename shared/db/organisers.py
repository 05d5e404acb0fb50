"""SQL for the organisers table: key lookup, create, list, revoke."""

from __future__ import annotations

import asyncpg
import msgspec

from shared.models.organisers import Organiser

SELECT_BY_KEY_HASH = "SELECT id, name FROM organisers WHERE key_hash = $1 AND revoked_at IS NULL"
INSERT = """
INSERT INTO organisers (name, contact_email, key_hash) VALUES ($1, $2, $3)
RETURNING id, name, contact_email, created_at, revoked_at
"""
SELECT_PAGE = """
SELECT id, name, contact_email, created_at, revoked_at FROM organisers
WHERE id > $1 ORDER BY id LIMIT $2
"""
# Revoking twice keeps the first time; the row stays for the events that reference it.
REVOKE = "UPDATE organisers SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id"


async def organiser_id_by_key_hash(conn: asyncpg.Connection, key_hash: bytes) -> int | None:
    row = await conn.fetchrow(SELECT_BY_KEY_HASH, key_hash)
    return None if row is None else int(row["id"])


async def insert_organiser(
    conn: asyncpg.Connection, name: str, contact_email: str, key_hash: bytes
) -> Organiser:
    row = await conn.fetchrow(INSERT, name, contact_email, key_hash)
    return msgspec.convert(dict(row), Organiser)


async def list_organisers(conn: asyncpg.Connection, after_id: int, limit: int) -> list[Organiser]:
    """Organisers with id > after_id, oldest first (keyset paging)."""
    rows = await conn.fetch(SELECT_PAGE, after_id, limit)
    return [msgspec.convert(dict(r), Organiser) for r in rows]


async def revoke_organiser(conn: asyncpg.Connection, organiser_id: int) -> bool:
    """Revoke the organiser's key; False when there is no such organiser."""
    return await conn.fetchval(REVOKE, organiser_id) is not None
