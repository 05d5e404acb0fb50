"""SQL for the matches table: the scoring jobs' transactional writes (one subject, or a
re-score chunk through COPY), the user's ranked list, and dropping matches of events over.

Every write sets `scored_at = now()` on the rows it changes, leaves rows whose values did
not change alone, and bumps `profiles.matches_version` of each profile whose rows it
changed, in the same statement: the feed's cache key (shared/db/feeds.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from shared.scoring import PairScore

# Matching writers share one advisory lock per database: per-subject jobs take it
# exclusively (they read and write under it), re-score chunks share it (their profile
# ranges are disjoint; they validate what they read before writing). So a writer never
# commits results computed from data older than a write that committed before it.
MATCHES_LOCK_ID = 0x6C6F776B6579  # "lowkey"
LOCK_EXCLUSIVE = "SELECT pg_advisory_xact_lock($1)"
LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared($1)"


def _bumping(statement: str) -> str:
    """`statement` (a write to `matches AS m`) plus a bump of `matches_version` for every
    profile whose rows it inserted, changed or deleted; answers how many rows it wrote.
    Profiles are locked in id order, as every bump does, so concurrent bumps never deadlock."""
    return f"""
WITH changed AS ({statement} RETURNING m.profile_id),
locked AS (
    SELECT p.id FROM profiles p WHERE p.id IN (SELECT profile_id FROM changed)
    ORDER BY p.id FOR NO KEY UPDATE
),
bumped AS (
    UPDATE profiles p SET matches_version = p.matches_version + 1
    FROM locked WHERE p.id = locked.id
)
SELECT count(*) FROM changed
"""  # noqa: S608 (only constant statements are formatted in)


_SET_CHANGED = """
ON CONFLICT (profile_id, event_id) DO UPDATE SET
    score = EXCLUDED.score, distance_score = EXCLUDED.distance_score,
    interest_score = EXCLUDED.interest_score, comfort_score = EXCLUDED.comfort_score,
    distance_km = EXCLUDED.distance_km, explanation = EXCLUDED.explanation,
    weight_version = EXCLUDED.weight_version, scored_at = now()
WHERE (m.score, m.distance_score, m.interest_score, m.comfort_score, m.distance_km,
       m.explanation, m.weight_version)
    IS DISTINCT FROM
      (EXCLUDED.score, EXCLUDED.distance_score, EXCLUDED.interest_score, EXCLUDED.comfort_score,
       EXCLUDED.distance_km, EXCLUDED.explanation, EXCLUDED.weight_version)
"""
_COLUMNS = (
    "profile_id, event_id, score, distance_score, interest_score, comfort_score, distance_km, "
    "explanation, weight_version"
)
UPSERT = _bumping(f"""
INSERT INTO matches AS m ({_COLUMNS}, scored_at)
SELECT t.p, t.e, t.s, t.ds, t.i, t.c, t.km, t.x, $9, now()
FROM unnest($1::bigint[], $2::bigint[], $3::real[], $4::real[], $5::real[], $6::real[],
            $7::real[], $8::text[]) AS t(p, e, s, ds, i, c, km, x)
{_SET_CHANGED}
""")  # noqa: S608 (constant text)
# An event's rows no longer eligible go; a cancelled event is never re-scored (kept as is).
DELETE_EVENT_REST = _bumping("""
DELETE FROM matches m WHERE m.event_id = $1 AND NOT (m.profile_id = ANY($2::bigint[]))
""")
# A profile's rows no longer eligible go, except those of cancelled events (kept until
# over, per the SPEC) unless the user hid them.
DELETE_PROFILE_REST = _bumping("""
DELETE FROM matches m USING events e
WHERE m.profile_id = $1 AND e.id = m.event_id AND NOT (m.event_id = ANY($2::bigint[]))
  AND (e.status = 'scheduled' OR m.event_id = ANY($3::bigint[]))
""")
DROP_EVENT = _bumping("DELETE FROM matches m WHERE m.event_id = $1")
DROP_OVER = _bumping("""
DELETE FROM matches m USING events e
WHERE e.id = m.event_id AND e.over_at IS NOT NULL AND e.over_at <= $1
""")
CHUNK_TABLES = """
CREATE TEMP TABLE chunk_matches (
    profile_id bigint, event_id bigint, score real, distance_score real, interest_score real,
    comfort_score real, distance_km real, explanation text, weight_version integer,
    PRIMARY KEY (profile_id, event_id)
) ON COMMIT DROP;
CREATE TEMP TABLE chunk_profiles (id bigint PRIMARY KEY) ON COMMIT DROP;
CREATE TEMP TABLE chunk_events (id bigint PRIMARY KEY) ON COMMIT DROP;
"""
ANALYZE_CHUNK = "ANALYZE chunk_matches; ANALYZE chunk_profiles; ANALYZE chunk_events"
UPSERT_CHUNK = _bumping(f"""
INSERT INTO matches AS m ({_COLUMNS}, scored_at)
SELECT {_COLUMNS}, now() FROM chunk_matches
{_SET_CHANGED}
""")  # noqa: S608
# Only pairs of the profiles and events the chunk read (and that did not change since):
# rows of a newer profile or event belong to that subject's own job.
DELETE_CHUNK_REST = _bumping("""
DELETE FROM matches m USING chunk_profiles cp, chunk_events ce
WHERE m.profile_id = cp.id AND m.event_id = ce.id
  AND NOT EXISTS (
      SELECT 1 FROM chunk_matches t WHERE t.profile_id = m.profile_id AND t.event_id = m.event_id
  )
""")
_LIST_EVENT_COLUMNS = """
    e.id, e.organiser_id, e.title, e.description, e.starts_at, e.ends_at, e.timezone,
    e.starts_at_utc, e.ends_at_utc, e.recurrence, e.over_at, e.format, e.venue_name,
    e.venue_address, e.lat, e.lon, e.online_url, e.tags, e.group_size, e.structure, e.noise,
    e.talking_optional, e.newcomer_support, e.cost_cents, e.currency, e.accessibility,
    e.languages, e.intensity, e.status, e.sequence, e.created_at, e.updated_at
"""
EVENT_FIELDS = tuple(c.strip().removeprefix("e.") for c in _LIST_EVENT_COLUMNS.split(","))
# Best first, keyset-paged by (score, event_id); events already over are left out.
LIST_FOR_PROFILE = f"""
SELECT {_LIST_EVENT_COLUMNS},
       m.score AS m_score, m.distance_score AS m_distance, m.interest_score AS m_interest,
       m.comfort_score AS m_comfort, m.distance_km AS m_distance_km,
       m.explanation AS m_explanation
FROM matches m JOIN events e ON e.id = m.event_id
WHERE m.profile_id = $1 AND (e.over_at IS NULL OR e.over_at > now())
  AND ($2::real IS NULL OR m.score < $2::real OR (m.score = $2::real AND m.event_id > $3))
ORDER BY m.score DESC, m.event_id
LIMIT $4
"""  # noqa: S608
SELECT_ALL = f"SELECT {_COLUMNS} FROM matches ORDER BY profile_id, event_id"  # noqa: S608


async def lock_writers(conn: asyncpg.Connection, *, shared: bool = False) -> None:
    """Take the matching writers' lock for this transaction (see MATCHES_LOCK_ID)."""
    await conn.execute(LOCK_SHARED if shared else LOCK_EXCLUSIVE, MATCHES_LOCK_ID)


async def upsert_pairs(
    conn: asyncpg.Connection, pairs: Sequence[tuple[int, PairScore]], version: int
) -> None:
    """Insert or update (profile id, score) pairs stamped with `version`."""
    if not pairs:
        return
    await conn.execute(
        UPSERT,
        [p for p, _ in pairs],
        [s.event_id for _, s in pairs],
        [s.score for _, s in pairs],
        [s.distance for _, s in pairs],
        [s.interest for _, s in pairs],
        [s.comfort for _, s in pairs],
        [s.distance_km for _, s in pairs],
        [s.explanation for _, s in pairs],
        version,
    )


async def write_event_matches(
    conn: asyncpg.Connection, event_id: int, pairs: Sequence[tuple[int, PairScore]], version: int
) -> None:
    """The event's matches become exactly `pairs` (call inside the job's transaction)."""
    await upsert_pairs(conn, pairs, version)
    await conn.execute(DELETE_EVENT_REST, event_id, [p for p, _ in pairs])


async def write_profile_matches(
    conn: asyncpg.Connection,
    profile_id: int,
    pairs: Sequence[tuple[int, PairScore]],
    version: int,
    hidden: Iterable[int],
) -> None:
    """The profile's matches become `pairs`, plus its kept matches of cancelled events."""
    await upsert_pairs(conn, pairs, version)
    await conn.execute(
        DELETE_PROFILE_REST, profile_id, [s.event_id for _, s in pairs], sorted(hidden)
    )


async def drop_event_matches(conn: asyncpg.Connection, event_id: int) -> None:
    await conn.execute(DROP_EVENT, event_id)


async def drop_over_matches(conn: asyncpg.Connection, now: datetime) -> int:
    """Delete the matches of every event over at `now`; returns how many went."""
    dropped: int = await conn.fetchval(DROP_OVER, now)
    return dropped


async def write_chunk(
    conn: asyncpg.Connection,
    records: Iterable[tuple[object, ...]],
    profile_ids: Sequence[int],
    event_ids: Sequence[int],
) -> int:
    """Make the matches among these profiles and events exactly `records` (rows in
    `_COLUMNS` order): COPY into temp tables, upsert, delete the rest. Returns the count."""
    await conn.execute(CHUNK_TABLES)
    await conn.copy_records_to_table("chunk_matches", records=records)
    await conn.copy_records_to_table("chunk_profiles", records=[(i,) for i in profile_ids])
    await conn.copy_records_to_table("chunk_events", records=[(i,) for i in event_ids])
    await conn.execute(ANALYZE_CHUNK)
    await conn.execute(UPSERT_CHUNK)
    await conn.execute(DELETE_CHUNK_REST)
    count: int = await conn.fetchval("SELECT count(*) FROM chunk_matches")
    return count


async def list_for_profile(
    conn: asyncpg.Connection, profile_id: int, after: tuple[float, int] | None, limit: int
) -> list[tuple[dict[str, Any], asyncpg.Record]]:
    """One page of the profile's matches, best first: (event columns, the row)."""
    score, event_id = after if after is not None else (None, None)
    rows = await conn.fetch(LIST_FOR_PROFILE, profile_id, score, event_id, limit)
    return [({f: r[f] for f in EVENT_FIELDS}, r) for r in rows]


async def all_matches(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every match row (tests and consistency checks)."""
    rows: list[asyncpg.Record] = await conn.fetch(SELECT_ALL)
    return rows
