"""SQL for buddy invites and links (migration 0018): a trusted person, one per profile.

An invite is looked up by the keyed hash of its code only. A link is two rows, one per
direction; writes lock both profile rows in id order, so two redeems never cross.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.models.buddies import Buddy

REPLACE_INVITE = """
INSERT INTO buddy_invites (profile_id, code_hash, expires_at) VALUES ($1, $2, $3)
ON CONFLICT (profile_id) DO UPDATE SET
    code_hash = EXCLUDED.code_hash, created_at = now(), expires_at = EXCLUDED.expires_at
"""
# Open or not: the caller tells expired from open, so that every refusal reads the same.
SELECT_INVITE = "SELECT profile_id, expires_at FROM buddy_invites WHERE code_hash = $1"
LOCK_PROFILES = """
SELECT id FROM profiles WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE
"""
SELECT_BUDDY_ID = "SELECT buddy_id FROM buddies WHERE profile_id = $1"
LINK = """
INSERT INTO buddies (profile_id, buddy_id, since)
VALUES ($1, $2, now()), ($2, $1, now())
"""
VOID_INVITES = "DELETE FROM buddy_invites WHERE profile_id = ANY($1::bigint[])"
UNLINK = """
DELETE FROM buddies WHERE profile_id = $1 OR buddy_id = $1 RETURNING profile_id
"""
SELECT_BUDDY = """
SELECT p.display_name, b.since FROM buddies b JOIN profiles p ON p.id = b.buddy_id
WHERE b.profile_id = $1
"""


async def replace_invite(
    conn: asyncpg.Connection, profile_id: int, code_hash: bytes, expires_at: datetime
) -> None:
    """The profile's one open invite becomes this one (the last is void)."""
    await conn.execute(REPLACE_INVITE, profile_id, code_hash, expires_at)


async def find_invite(conn: asyncpg.Connection, code_hash: bytes) -> tuple[int, datetime] | None:
    """(owner's profile id, expires_at) of the invite with that code hash, or None."""
    row = await conn.fetchrow(SELECT_INVITE, code_hash)
    return None if row is None else (int(row["profile_id"]), row["expires_at"])


async def lock_profiles(conn: asyncpg.Connection, profile_ids: list[int]) -> None:
    """Lock these profile rows in id order for the rest of the transaction."""
    await conn.execute(LOCK_PROFILES, profile_ids)


async def buddy_of(conn: asyncpg.Connection, profile_id: int) -> int | None:
    """The profile id of this profile's buddy, or None (for the "together" weighting too)."""
    value = await conn.fetchval(SELECT_BUDDY_ID, profile_id)
    return None if value is None else int(value)


async def link(conn: asyncpg.Connection, first: int, second: int) -> None:
    """Link the two (both locked and without a buddy) and void both users' invites."""
    await conn.execute(LINK, first, second)
    await conn.execute(VOID_INVITES, [first, second])


async def unlink(conn: asyncpg.Connection, profile_id: int) -> bool:
    """Unlink the profile from its buddy, both ways; False when it had none."""
    return bool(await conn.fetch(UNLINK, profile_id))


async def read_buddy(conn: asyncpg.Connection, profile_id: int) -> Buddy | None:
    """The buddy as the profile sees them (their display name, since when), or None."""
    row = await conn.fetchrow(SELECT_BUDDY, profile_id)
    return None if row is None else Buddy(display_name=row["display_name"], since=row["since"])
