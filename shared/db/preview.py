"""SQL the weights preview reads: a seeded sample of profiles and their stored pairs,
weighed by the active and by the candidate weights (shared/db/weighing.py). Reads only;
the preview never writes."""

from __future__ import annotations

import asyncpg

from shared.db.weighing import ACTIVE_WEIGHTS, candidate_values, candidate_weights, weighed
from shared.scoring import Weights

# md5 of id and seed orders profiles the same way for the same seed, differently for
# another, without a random() that would change between calls.
SAMPLE_PROFILES = """
SELECT p.id FROM profiles p
ORDER BY md5(p.id::text || ':' || $1::text), p.id
LIMIT $2
"""
# The sample's pairs of live events (not cancelled, not over), each weighed both ways.
SAMPLE_PAIRS = f"""
WITH {ACTIVE_WEIGHTS}, {candidate_weights(2)}
SELECT m.profile_id, m.event_id, x.text AS explanation, e.title, e.starts_at, e.ends_at,
       e.timezone, e.recurrence,
       before.score AS before, after.score AS after
FROM matches m CROSS JOIN w CROSS JOIN c
{weighed("w", "m", "before")} {weighed("c", "m", "after")}
JOIN events e ON e.id = m.event_id
JOIN match_explanations x ON x.id = m.explanation_id
WHERE m.profile_id = ANY($1::bigint[])
  AND e.status = 'scheduled' AND (e.over_at IS NULL OR e.over_at > now())
ORDER BY m.profile_id, m.event_id
"""  # noqa: S608 (constant text)
LIVE_EVENT_COUNT = """
SELECT count(*) FROM events WHERE status = 'scheduled' AND (over_at IS NULL OR over_at > now())
"""


async def sample_profile_ids(conn: asyncpg.Connection, *, seed: int, size: int) -> list[int]:
    return [r["id"] for r in await conn.fetch(SAMPLE_PROFILES, str(seed), size)]


async def sample_pairs(
    conn: asyncpg.Connection, profile_ids: list[int], candidate: Weights
) -> list[asyncpg.Record]:
    """Every stored pair of the sampled profiles with a live event, with `before` (the
    active weights' score) and `after` (the candidate's)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        SAMPLE_PAIRS, profile_ids, *candidate_values(candidate)
    )
    return rows


async def live_event_count(conn: asyncpg.Connection) -> int:
    n: int = await conn.fetchval(LIVE_EVENT_COUNT)
    return n
