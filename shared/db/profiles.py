"""SQL for the profiles table (and what hangs off a profile: its matches, for the export)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from shared import timeutil
from shared.db.weighing import ACTIVE_WEIGHTS, IS_MATCH, RANKED, WEIGHED
from shared.explanations import api_explanation
from shared.models.profiles import ExportedMatch, Profile, ProfileCreate
from shared.together import TOGETHER_WORDS, together_events

SELECT_ID_BY_TOKEN_HASH = "SELECT id FROM profiles WHERE token_hash = $1"

INSERT_PROFILE = """
INSERT INTO profiles (
    token_hash, feed_token_hash, feed_token_sealed, display_name, home_lat, home_lon, radius_km,
    interests, comfort_level, open_to_stretch, formats, max_cost_cents, currency, languages,
    accessibility_needs, availability, timezone, max_events_per_week, feed_style, calendar_label,
    adapt_comfort, seeking
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
          $20, $21, $22)
RETURNING
    id, display_name, json_build_object('lat', home_lat, 'lon', home_lon) AS home, radius_km,
    interests, comfort_level, open_to_stretch, formats, max_cost_cents, currency, languages,
    accessibility_needs, availability, timezone, max_events_per_week, feed_style, calendar_label,
    adapt_comfort, seeking, created_at, updated_at, feed_token_sealed
"""
SELECT_PROFILE = """
SELECT
    id, display_name, json_build_object('lat', home_lat, 'lon', home_lon) AS home, radius_km,
    interests, comfort_level, open_to_stretch, formats, max_cost_cents, currency, languages,
    accessibility_needs, availability, timezone, max_events_per_week, feed_style, calendar_label,
    adapt_comfort, seeking, created_at, updated_at, feed_token_sealed
FROM profiles WHERE id = $1
"""
SELECT_PROFILE_FOR_UPDATE = SELECT_PROFILE.rstrip() + " FOR NO KEY UPDATE"
UPDATE_PROFILE = """
UPDATE profiles SET
    display_name = $2, home_lat = $3, home_lon = $4, radius_km = $5, interests = $6,
    comfort_level = $7, open_to_stretch = $8, formats = $9, max_cost_cents = $10, currency = $11,
    languages = $12, accessibility_needs = $13, availability = $14, timezone = $15,
    max_events_per_week = $16, feed_style = $17, calendar_label = $18, adapt_comfort = $19,
    seeking = $20, updated_at = now()
WHERE id = $1
RETURNING
    id, display_name, json_build_object('lat', home_lat, 'lon', home_lon) AS home, radius_km,
    interests, comfort_level, open_to_stretch, formats, max_cost_cents, currency, languages,
    accessibility_needs, availability, timezone, max_events_per_week, feed_style, calendar_label,
    adapt_comfort, seeking, created_at, updated_at, feed_token_sealed
"""
DELETE_PROFILE = "DELETE FROM profiles WHERE id = $1"
REPLACE_FEED_TOKEN = """
WITH dropped AS (DELETE FROM feed_renders WHERE profile_id = $1)
UPDATE profiles SET feed_token_hash = $2, feed_token_sealed = $3, updated_at = now()
WHERE id = $1
"""
# The profile's matches weighed with the active weights, as GET /v1/me/matches shows them.
SELECT_MATCHES_FOR_EXPORT = f"""
WITH {ACTIVE_WEIGHTS}
SELECT m.event_id, e.title, e.starts_at, e.ends_at, e.timezone, e.recurrence,
       {RANKED.format(together="$2")} AS score, m.event_id = ANY($2::bigint[]) AS together,
       s.distance AS distance_score, m.interest_score, s.comfort AS comfort_score,
       s.support AS support_score, s.distance_km, x.text AS explanation,
       w.version AS weight_version, m.scored_at, e.support AS event_support,
       p.seeking AS seeking
FROM matches m {WEIGHED}
JOIN events e ON e.id = m.event_id
JOIN profiles p ON p.id = m.profile_id
JOIN match_explanations x ON x.id = m.explanation_id
WHERE m.profile_id = $1 AND {IS_MATCH} ORDER BY 7 DESC, m.event_id
"""  # noqa: S608 (constant text)


def _profile_values(p: ProfileCreate) -> tuple[Any, ...]:
    """Column values in the order INSERT ($4…) and UPDATE ($2…) take them."""
    return (
        p.display_name,
        p.home.lat,
        p.home.lon,
        p.radius_km,
        p.interests,
        p.comfort_level,
        p.open_to_stretch,
        list(p.formats),
        p.max_cost_cents,
        p.currency,
        list(p.languages),
        list(p.accessibility_needs),
        msgspec.to_builtins(p.availability),
        p.timezone,
        p.max_events_per_week,
        p.feed_style,
        p.calendar_label,
        p.adapt_comfort,
        list(p.seeking),
    )


def _to_profile(row: asyncpg.Record) -> tuple[Profile, bytes]:
    data = dict(row)
    sealed: bytes = data.pop("feed_token_sealed")
    return msgspec.convert(data, Profile), sealed


async def profile_id_by_token_hash(conn: asyncpg.Connection, token_hash: bytes) -> int | None:
    value = await conn.fetchval(SELECT_ID_BY_TOKEN_HASH, token_hash)
    return None if value is None else int(value)


async def insert_profile(
    conn: asyncpg.Connection,
    data: ProfileCreate,
    *,
    token_hash: bytes,
    feed_token_hash: bytes,
    feed_token_sealed: bytes,
) -> Profile:
    row = await conn.fetchrow(
        INSERT_PROFILE, token_hash, feed_token_hash, feed_token_sealed, *_profile_values(data)
    )
    return _to_profile(row)[0]


async def fetch_profile(
    conn: asyncpg.Connection, profile_id: int, *, for_update: bool = False
) -> tuple[Profile, bytes] | None:
    """The profile and its sealed feed token, or None; `for_update` locks the row."""
    query = SELECT_PROFILE_FOR_UPDATE if for_update else SELECT_PROFILE
    row = await conn.fetchrow(query, profile_id)
    return None if row is None else _to_profile(row)


async def update_profile(conn: asyncpg.Connection, profile_id: int, data: ProfileCreate) -> Profile:
    """Write every field of an already merged and validated profile."""
    row = await conn.fetchrow(UPDATE_PROFILE, profile_id, *_profile_values(data))
    return _to_profile(row)[0]


async def delete_profile(conn: asyncpg.Connection, profile_id: int) -> bool:
    """Delete the row; matches, hidden events, feed renders and its idempotency records cascade."""
    status: str = await conn.execute(DELETE_PROFILE, profile_id)
    return status.endswith(" 1")


async def replace_feed_token(
    conn: asyncpg.Connection, profile_id: int, *, feed_token_hash: bytes, feed_token_sealed: bytes
) -> None:
    """Swap in a new feed token; the old one stops working and its cached render goes."""
    await conn.execute(REPLACE_FEED_TOKEN, profile_id, feed_token_hash, feed_token_sealed)


async def matches_for_export(conn: asyncpg.Connection, profile_id: int) -> list[ExportedMatch]:
    """Every stored match of the profile, best first, in the export's readable form."""
    now = datetime.now(UTC)
    together = await together_events(conn, profile_id, now)
    rows = await conn.fetch(SELECT_MATCHES_FOR_EXPORT, profile_id, together)
    return [_exported(r, now) for r in rows]


def _exported(r: asyncpg.Record, now: datetime) -> ExportedMatch:
    upcoming = timeutil.next_start(
        r["event_id"], r["starts_at"], r["ends_at"], r["timezone"], r["recurrence"], now
    )
    km = r["distance_km"]
    return ExportedMatch(
        event_id=r["event_id"],
        title=r["title"],
        next_starts_at=None if upcoming is None else upcoming.replace(tzinfo=None).isoformat(),
        timezone=r["timezone"],
        explanation=api_explanation(r["explanation"], km, r["seeking"], r["event_support"])
        + (f" · {TOGETHER_WORDS}" if r["together"] else ""),
        together=r["together"],
        # Stored as float4: shown to the precision it carries, as the matches API does.
        score=round(float(r["score"]), 4),
        components={
            "distance": round(float(r["distance_score"]), 4),
            "interest": round(float(r["interest_score"]), 4),
            "comfort": round(float(r["comfort_score"]), 4),
            "support": (
                None if r["support_score"] is None else round(float(r["support_score"]), 4)
            ),
        },
        distance_km=None if km is None else round(float(km), 2),
        weight_version=r["weight_version"],
        scored_at=r["scored_at"],
    )
