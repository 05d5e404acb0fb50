"""SQL for together matches (SPEC "A trusted person"): the events a user and their buddy
both match on their own (each scoring at least `min_score` with the active weights, no
bonus), with what shared/together.py needs to find an occurrence free for both."""

from __future__ import annotations

import asyncpg

from shared.db.weighing import ACTIVE_WEIGHTS, weighed

BOTH_MATCH = f"""
WITH {ACTIVE_WEIGHTS}
SELECT e.id, e.starts_at, e.ends_at, e.timezone, e.recurrence,
       p.timezone AS own_zone, p.availability::text AS own_availability,
       q.timezone AS buddy_zone, q.availability::text AS buddy_availability
FROM buddies b
JOIN profiles p ON p.id = b.profile_id
JOIN profiles q ON q.id = b.buddy_id
JOIN matches m ON m.profile_id = b.profile_id
JOIN matches bm ON bm.profile_id = b.buddy_id AND bm.event_id = m.event_id
JOIN events e ON e.id = m.event_id
CROSS JOIN w {weighed("w", "m", "own")} {weighed("w", "bm", "theirs")}
WHERE b.profile_id = $1 AND e.status = 'scheduled' AND (e.over_at IS NULL OR e.over_at > now())
  AND own.score >= w.min_score AND theirs.score >= w.min_score
"""  # noqa: S608 (constant text)


async def both_match(
    conn: asyncpg.Connection | asyncpg.Pool, profile_id: int
) -> list[asyncpg.Record]:
    """The events the profile and its buddy both match (none without a buddy)."""
    rows: list[asyncpg.Record] = await conn.fetch(BOTH_MATCH, profile_id)
    return rows
