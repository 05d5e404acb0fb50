"""SQL for match explanations: each distinct text stored once, referenced by id from matches."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

# Sorted, so two writers adding overlapping texts take the unique index's locks in the
# same order and never deadlock.
INSERT_MISSING = """
INSERT INTO match_explanations (text)
SELECT t FROM unnest($1::text[]) AS t ORDER BY t
ON CONFLICT (text) DO NOTHING
"""
SELECT_IDS = "SELECT text, id FROM match_explanations WHERE text = ANY($1::text[])"


async def ids_for(conn: asyncpg.Connection, texts: Sequence[str]) -> dict[str, int]:
    """The id of each text, adding the new ones. Two statements: the second's snapshot
    sees a text another transaction committed while the first waited for it."""
    distinct = sorted(set(texts))
    if not distinct:
        return {}
    await conn.execute(INSERT_MISSING, distinct)
    return {r["text"]: r["id"] for r in await conn.fetch(SELECT_IDS, distinct)}
