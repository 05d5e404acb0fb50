"""SQL for the matches table: the scoring jobs' transactional writes (one subject at a
time; a full re-score builds a new table, shared/db/rescore_tables.py), the user's ranked
list, and dropping matches of events over.

Every write sets `scored_at = now()` on the rows it changes, leaves rows whose values did
not change alone, and bumps `profiles.matches_version` of each profile whose rows it
changed, in the same statement: the feed's cache key (shared/db/feeds.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from shared.db import explanations
from shared.db.weighing import ACTIVE_WEIGHTS, IS_MATCH, RANKED, WEIGHED, weigh_match
from shared.scoring import PairScore

# The writers of `matches` take one advisory lock per database: per-subject jobs (they read
# and write under it), a re-score's fan-out (it notes the time under it) and its swap. So a
# writer never commits results computed from data older than a write committed before it,
# and a job either ran before a swap (and is run again after it) or after it.
COPY_SLICE = 1 << 22  # bytes per COPY message
# This week's occurrences keep their feed slots after they end (SPEC), and a feed's week
# begins at most 7 days ago in any zone: matches of events over stay that long, and a day.
OVER_MATCHES_KEPT = timedelta(days=8)
MATCHES_LOCK_ID = 0x6C6F776B6579  # "lowkey"
# The stored parts of a pair (migration 0020), in the order writers and COPY give them.
COLUMNS = (
    "profile_id", "event_id", "distance_km", "online", "interest_score", "comfort_gap",
    "explanation_id", "support",
)  # fmt: skip
NO_SUPPORT = -1.0  # the stored support part when it is not counted (migration 0021)
LOCK_EXCLUSIVE = "SELECT pg_advisory_xact_lock($1)"


def _bumping(*statements: str, first: str = "") -> str:
    """`statements` (writes to `matches AS m`, run as one statement) plus one bump of
    `matches_version` for every profile whose rows they inserted, changed or deleted;
    answers how many rows they wrote. Profiles are locked in id order, and a transaction
    bumps once: two bumps in one transaction would each be ordered but not together,
    and a concurrent bump (an event's edit, another job) could then lock across them."""
    writes = ",\n".join(
        f"w{i} AS ({statement} RETURNING m.profile_id)" for i, statement in enumerate(statements)
    )
    union = " UNION ALL ".join(f"SELECT profile_id FROM w{i}" for i in range(len(statements)))  # noqa: S608
    return f"""
WITH {first + "," if first else ""}
{writes},
changed AS ({union}),
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
    distance_km = EXCLUDED.distance_km, online = EXCLUDED.online,
    interest_score = EXCLUDED.interest_score, comfort_gap = EXCLUDED.comfort_gap,
    explanation_id = EXCLUDED.explanation_id, support = EXCLUDED.support, scored_at = now()
WHERE (m.distance_km, m.online, m.interest_score, m.comfort_gap, m.explanation_id, m.support)
    IS DISTINCT FROM
      (EXCLUDED.distance_km, EXCLUDED.online, EXCLUDED.interest_score, EXCLUDED.comfort_gap,
       EXCLUDED.explanation_id, EXCLUDED.support)
"""
_UPSERT = f"""
INSERT INTO matches AS m ({", ".join(COLUMNS)}, scored_at)
SELECT t.p, t.e, t.km, t.o, t.i, t.g, t.x, t.s, now()
FROM unnest($1::bigint[], $2::bigint[], $3::real[], $4::boolean[], $5::real[],
            $6::smallint[], $7::integer[], $8::real[]) AS t(p, e, km, o, i, g, x, s)
{_SET_CHANGED}
"""  # noqa: S608 (constant text)
UPSERT = _bumping(_UPSERT)
# An event's rows become exactly the pairs: the rest go (disjoint from the upserted
# ones, so one statement may do both).
WRITE_EVENT = _bumping(
    _UPSERT,
    "DELETE FROM matches m WHERE m.event_id = $9 AND NOT (m.profile_id = ANY($1::bigint[]))",
)
# A profile's rows no longer eligible go, except those of cancelled events (kept until
# over, per the SPEC) and of events already over (their slots in this week's feed stay
# theirs until drop_over_matches), unless the user hid them.
WRITE_PROFILE = _bumping(
    _UPSERT,
    """
DELETE FROM matches m USING events e
WHERE m.profile_id = $9 AND e.id = m.event_id AND NOT (m.event_id = ANY($2::bigint[]))
  AND ((e.status = 'scheduled' AND (e.over_at IS NULL OR e.over_at > now()))
       OR m.event_id = ANY($10::bigint[]))
""",
)
# Cancelling keeps the event's pairs that are matches then (with the active weights) and
# drops the rest; `kept` holds them whatever the weights do until the event is over.
DROP_CANCELLED_REST = _bumping(
    f"""
DELETE FROM matches m USING w
WHERE m.event_id = $1 AND NOT m.kept
  AND EXISTS (SELECT FROM {weigh_match()} AS s WHERE s.score < w.min_score)
""",  # noqa: S608 (constant text)
    first=ACTIVE_WEIGHTS,
)
KEEP_CANCELLED = "UPDATE matches SET kept = true WHERE event_id = $1 AND NOT kept"
DROP_EVENT = _bumping("DELETE FROM matches m WHERE m.event_id = $1")
DROP_OVER = _bumping("""
DELETE FROM matches m USING events e
WHERE e.id = m.event_id AND e.over_at IS NOT NULL AND e.over_at <= $1
""")
_LIST_EVENT_COLUMNS = """
    e.id, e.organiser_id, e.title, e.description, e.starts_at, e.ends_at, e.timezone,
    e.starts_at_utc, e.ends_at_utc, e.recurrence, e.over_at, e.format, e.venue_name,
    e.venue_address, e.lat, e.lon, e.online_url, e.tags, e.group_size, e.structure, e.noise,
    e.talking_optional, e.newcomer_support, e.cost_cents, e.currency, e.accessibility,
    e.languages, e.first_visit, e.support, e.intensity, e.status, e.sequence, e.created_at,
    e.updated_at
"""
EVENT_FIELDS = tuple(c.strip().removeprefix("e.") for c in _LIST_EVENT_COLUMNS.split(","))
# Best first by the active weights (a together match with its bonus, $5: the event ids),
# keyset-paged by (score, event_id); events already over are left out.
LIST_FOR_PROFILE = f"""
WITH {ACTIVE_WEIGHTS},
ranked AS (
    SELECT m.event_id, {RANKED.format(together="$5")} AS score, s.distance, s.comfort,
           s.support, s.distance_km, m.interest_score, m.explanation_id,
           m.event_id = ANY($5::bigint[]) AS together
    FROM matches m {WEIGHED}
    WHERE m.profile_id = $1 AND {IS_MATCH}
)
SELECT {_LIST_EVENT_COLUMNS},
       r.score AS m_score, r.distance AS m_distance, r.interest_score AS m_interest,
       r.comfort AS m_comfort, r.support AS m_support, r.distance_km AS m_distance_km,
       x.text AS m_explanation, p.seeking AS m_seeking, r.together AS m_together
FROM ranked r
JOIN events e ON e.id = r.event_id
JOIN profiles p ON p.id = $1
JOIN match_explanations x ON x.id = r.explanation_id
WHERE (e.over_at IS NULL OR e.over_at > now())
  AND ($2::float8 IS NULL OR r.score < $2::float8 OR (r.score = $2::float8 AND r.event_id > $3))
ORDER BY r.score DESC, r.event_id
LIMIT $4
"""  # noqa: S608


async def lock_writers(conn: asyncpg.Connection) -> None:
    """Take the matching writers' lock for this transaction (see MATCHES_LOCK_ID)."""
    await conn.execute(LOCK_EXCLUSIVE, MATCHES_LOCK_ID)


async def _pair_arguments(
    conn: asyncpg.Connection, pairs: Sequence[tuple[int, PairScore]]
) -> list[Any]:
    """UPSERT's $1..$8 for `pairs`, adding their explanation texts."""
    ids = await explanations.ids_for(conn, [s.explanation for _, s in pairs])
    return [
        [p for p, _ in pairs],
        [s.event_id for _, s in pairs],
        [s.distance_km for _, s in pairs],
        [s.online for _, s in pairs],
        [s.interest for _, s in pairs],
        [s.comfort_gap for _, s in pairs],
        [ids[s.explanation] for _, s in pairs],
        [NO_SUPPORT if s.support is None else s.support for _, s in pairs],
    ]


async def upsert_pairs(conn: asyncpg.Connection, pairs: Sequence[tuple[int, PairScore]]) -> None:
    """Insert or update (profile id, parts) pairs."""
    if pairs:
        await conn.execute(UPSERT, *await _pair_arguments(conn, pairs))


async def write_event_matches(
    conn: asyncpg.Connection, event_id: int, pairs: Sequence[tuple[int, PairScore]]
) -> None:
    """The event's eligible pairs become exactly `pairs` (inside the job's transaction)."""
    await conn.execute(WRITE_EVENT, *await _pair_arguments(conn, pairs), event_id)


async def keep_cancelled_matches(conn: asyncpg.Connection, event_id: int) -> None:
    """A cancelled event keeps the rows that are matches now, for good; the rest go."""
    await conn.execute(DROP_CANCELLED_REST, event_id)
    await conn.execute(KEEP_CANCELLED, event_id)


async def write_profile_matches(
    conn: asyncpg.Connection,
    profile_id: int,
    pairs: Sequence[tuple[int, PairScore]],
    hidden: Iterable[int],
) -> None:
    """The profile's eligible pairs become `pairs`, plus its kept rows of cancelled events."""
    arguments = await _pair_arguments(conn, pairs)
    await conn.execute(WRITE_PROFILE, *arguments, profile_id, sorted(hidden))


async def drop_event_matches(conn: asyncpg.Connection, event_id: int) -> None:
    await conn.execute(DROP_EVENT, event_id)


async def drop_over_matches(conn: asyncpg.Connection, now: datetime) -> int:
    """Delete the matches of every event over for OVER_MATCHES_KEPT at `now`; returns how
    many went."""
    dropped: int = await conn.fetchval(DROP_OVER, now - OVER_MATCHES_KEPT)
    return dropped


async def copy_binary(
    conn: asyncpg.Connection, table: str, payload: bytes | memoryview, *, freeze: bool = False
) -> None:
    """COPY a binary payload of match rows (shared.match_copy.encode) into `table`
    (`matches`, or a re-score's partition: names from code, never from input). `freeze`:
    rows go in frozen (the table must be created in the caller's transaction)."""

    async def slices() -> AsyncIterator[bytes]:
        view = memoryview(payload)
        for start in range(0, len(view), COPY_SLICE):
            yield bytes(view[start : start + COPY_SLICE])

    await conn.copy_to_table(
        table, source=slices(), columns=list(COLUMNS), format="binary", freeze=freeze
    )


async def list_for_profile(
    conn: asyncpg.Connection,
    profile_id: int,
    after: tuple[float, int] | None,
    limit: int,
    together: Sequence[int] = (),
) -> list[tuple[dict[str, Any], asyncpg.Record]]:
    """One page of the profile's matches, best first: (event columns, the row).
    `together`: its together matches' event ids (shared/together.py)."""
    score, event_id = after if after is not None else (None, None)
    rows = await conn.fetch(LIST_FOR_PROFILE, profile_id, score, event_id, limit, list(together))
    return [({f: r[f] for f in EVENT_FIELDS}, r) for r in rows]
