"""SQL for hidden_events: the events a user never wants suggested again."""

from __future__ import annotations

import asyncpg
import msgspec

from shared.models.profiles import HiddenEvent

HIDE = """
WITH ev AS (SELECT id FROM events WHERE id = $2),
ins AS (
    INSERT INTO hidden_events (profile_id, event_id) SELECT $1, id FROM ev
    ON CONFLICT DO NOTHING
)
SELECT EXISTS (SELECT 1 FROM ev)
"""
UNHIDE = """
WITH ev AS (SELECT id FROM events WHERE id = $2),
del AS (DELETE FROM hidden_events WHERE profile_id = $1 AND event_id = $2)
SELECT EXISTS (SELECT 1 FROM ev)
"""
SELECT_HIDDEN = """
SELECT event_id, created_at FROM hidden_events WHERE profile_id = $1 ORDER BY created_at, event_id
"""


async def hide_event(conn: asyncpg.Connection, profile_id: int, event_id: int) -> bool:
    """Hide an event (again is fine); False when no such event exists."""
    found: bool = await conn.fetchval(HIDE, profile_id, event_id)
    return found


async def unhide_event(conn: asyncpg.Connection, profile_id: int, event_id: int) -> bool:
    """Unhide an event (not hidden is fine); False when no such event exists."""
    found: bool = await conn.fetchval(UNHIDE, profile_id, event_id)
    return found


async def hidden_events(conn: asyncpg.Connection, profile_id: int) -> list[HiddenEvent]:
    rows = await conn.fetch(SELECT_HIDDEN, profile_id)
    return msgspec.convert([dict(r) for r in rows], list[HiddenEvent])
