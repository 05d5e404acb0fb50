"""SQL for the admin overview: table counts, live events by intensity, matches per user."""

from __future__ import annotations

import asyncpg

from shared.db.weighing import ACTIVE_WEIGHTS, IS_MATCH, WEIGHED
from shared.models.weights import MatchesPerUserBin

# Live: scheduled and not over (a series with no end is never over).
# Matches: the stored pairs the active weights make matches (shared/db/weighing.py).
COUNTS = f"""
WITH {ACTIVE_WEIGHTS}
SELECT
    (SELECT count(*) FROM profiles) AS profiles,
    (SELECT count(*) FROM events) AS events,
    (SELECT count(*) FROM events
      WHERE status = 'scheduled' AND (over_at IS NULL OR over_at > now())) AS live_events,
    (SELECT count(*) FROM matches m {WEIGHED} WHERE {IS_MATCH}) AS matches
"""  # noqa: S608 (constant text)
LIVE_EVENTS_BY_INTENSITY = """
SELECT intensity, count(*) AS n FROM events
WHERE status = 'scheduled' AND (over_at IS NULL OR over_at > now())
GROUP BY intensity
"""
# Profiles per bucket of match count; the buckets' lower bounds are $1.
MATCHES_PER_USER = f"""
WITH {ACTIVE_WEIGHTS},
matched AS (SELECT m.profile_id, count(*) AS n FROM matches m {WEIGHED} WHERE {IS_MATCH}
            GROUP BY m.profile_id),
per_profile AS (
    SELECT p.id, coalesce(matched.n, 0) AS n
    FROM profiles p LEFT JOIN matched ON matched.profile_id = p.id
)
SELECT width_bucket(n, $1::bigint[]) AS bucket, count(*) AS users
FROM per_profile GROUP BY bucket
"""  # noqa: S608 (constant text)
# A linked pair is two rows (each side's); answers and changes are counted, never listed.
BUDDY_PAIRS = "SELECT count(*) FROM buddies WHERE profile_id < buddy_id"
CHECKINS_BY_ANSWER = "SELECT answer, count(*) AS n FROM checkins GROUP BY answer"
COMFORT_CHANGES_BY_KIND = "SELECT kind, count(*) AS n FROM comfort_changes GROUP BY kind"
# Lower bounds of the matches-per-user buckets, and their labels.
MATCH_BUCKETS = (0, 1, 3, 6, 11, 21, 51)
MATCH_LABELS = ("0", "1-2", "3-5", "6-10", "11-20", "21-50", "51+")


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow(COUNTS)
    assert row is not None
    return {k: int(v) for k, v in row.items()}


async def live_events_by_intensity(conn: asyncpg.Connection) -> dict[str, int]:
    found = {int(r["intensity"]): int(r["n"]) for r in await conn.fetch(LIVE_EVENTS_BY_INTENSITY)}
    return {str(level): found.get(level, 0) for level in range(1, 6)}


async def matches_per_user(conn: asyncpg.Connection) -> list[MatchesPerUserBin]:
    found = {
        int(r["bucket"]): int(r["users"])
        for r in await conn.fetch(MATCHES_PER_USER, list(MATCH_BUCKETS))
    }
    # width_bucket numbers the buckets from 1 for the first lower bound.
    return [
        MatchesPerUserBin(label=label, users=found.get(i + 1, 0))
        for i, label in enumerate(MATCH_LABELS)
    ]


async def first_step_counts(conn: asyncpg.Connection) -> tuple[int, dict[str, int], dict[str, int]]:
    """Buddy pairs, check-ins by answer, comfort changes by kind (every answer and kind
    present, 0 when none)."""
    pairs = int(await conn.fetchval(BUDDY_PAIRS))
    answers = dict.fromkeys(("went_fine", "too_much", "didnt_go"), 0)
    answers |= {r["answer"]: r["n"] for r in await conn.fetch(CHECKINS_BY_ANSWER)}
    kinds = dict.fromkeys(("raised", "lowered", "stretch_paused"), 0)
    kinds |= {r["kind"]: r["n"] for r in await conn.fetch(COMFORT_CHANGES_BY_KIND)}
    return pairs, answers, kinds


MATCH_COUNT = f"WITH {ACTIVE_WEIGHTS} SELECT count(*) FROM matches m {WEIGHED} WHERE {IS_MATCH}"  # noqa: S608


async def count_matches(conn: asyncpg.Connection) -> int:
    """The stored pairs the active weights make matches."""
    return int(await conn.fetchval(MATCH_COUNT))
