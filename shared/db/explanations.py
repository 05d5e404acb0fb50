"""SQL for match explanations: each distinct text stored once, referenced by id from matches."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import numpy as np
import numpy.typing as npt

# Sorted, so two writers adding overlapping texts take the unique index's locks in the
# same order and never deadlock.
INSERT_MISSING = """
INSERT INTO match_explanations (text)
SELECT t FROM unnest($1::text[]) AS t ORDER BY t
ON CONFLICT (text) DO NOTHING
"""
SELECT_IDS = "SELECT text, id FROM match_explanations WHERE text = ANY($1::text[])"
KNOWN_LIMIT = 500_000  # a cache of ids that outgrows this (~50 MB) starts again


async def ids_for(conn: asyncpg.Connection, texts: Sequence[str]) -> dict[str, int]:
    """The id of each text, adding the new ones. Two statements: the second's snapshot
    sees a text another transaction committed while the first waited for it."""
    distinct = sorted(set(texts))
    if not distinct:
        return {}
    await conn.execute(INSERT_MISSING, distinct)
    return {r["text"]: r["id"] for r in await conn.fetch(SELECT_IDS, distinct)}


async def code_ids(
    conn: asyncpg.Connection, texts: Sequence[str], known: dict[str, int] | None = None
) -> npt.NDArray[np.int32]:
    """The ids of `texts` as an array aligned with them (a bulk scorer's explanation codes
    index it; shared.match_copy.encode). `known` caches ids across calls on one database:
    a text's id never changes (rows are never deleted), so only new texts are looked up."""
    known = {} if known is None else known
    missing = [t for t in set(texts) if t not in known]
    if missing:
        if len(known) > KNOWN_LIMIT:
            known.clear()
        known.update(await ids_for(conn, missing))
    return np.array([known[t] for t in texts] or [0], dtype=np.int32)
