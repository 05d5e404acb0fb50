"""Loads what scoring needs from PostgreSQL as `shared.scoring` Structs: events, profiles
(with their hidden events), weight sets and the active version.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.occurrences import availability_from_wire
from shared.scoring import ScoringEvent, ScoringProfile

_EVENT_COLUMNS = """
    e.id, e.format, e.lat, e.lon, e.tags, e.intensity, e.group_size, e.structure, e.noise,
    e.talking_optional, e.newcomer_support, e.starts_at, e.ends_at, e.timezone, e.recurrence,
    e.over_at, e.status, e.cost_cents, e.currency, e.languages, e.accessibility, e.support,
    e.sequence
"""
_PROFILE_COLUMNS = """
    p.id, p.home_lat, p.home_lon, p.radius_km, p.interests, p.comfort_level,
    (p.open_to_stretch AND NOT coalesce(p.stretch_paused_until > now(), false))
        AS open_to_stretch,  -- a check-in's stretch pause (migration 0019)
    p.formats, p.max_cost_cents, p.currency, p.languages, p.accessibility_needs, p.availability,
    p.timezone, p.max_events_per_week, p.seeking, p.updated_at,
    ARRAY(SELECT h.event_id FROM hidden_events h WHERE h.profile_id = p.id ORDER BY h.event_id)
        AS hidden
"""
# FOR KEY SHARE: the rows a job will reference cannot be deleted under it (so no foreign
# key error half-way), while organisers' and users' ordinary updates are not blocked.
SELECT_EVENT = f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.id = $1 FOR KEY SHARE"  # noqa: S608
SELECT_EVENTS = f"""
SELECT {_EVENT_COLUMNS} FROM events e WHERE e.id = ANY($1::bigint[]) ORDER BY e.id FOR KEY SHARE
"""  # noqa: S608
SELECT_LIVE_EVENTS = f"""
SELECT {_EVENT_COLUMNS} FROM events e
WHERE e.status = 'scheduled' AND (e.over_at IS NULL OR e.over_at > $1)
ORDER BY e.id
"""  # noqa: S608
SELECT_PROFILES = f"""
SELECT {_PROFILE_COLUMNS} FROM profiles p WHERE p.id = ANY($1::bigint[]) ORDER BY p.id FOR KEY SHARE
"""  # noqa: S608
SELECT_PROFILE_RANGE = f"""
SELECT {_PROFILE_COLUMNS} FROM profiles p WHERE p.id BETWEEN $1 AND $2 ORDER BY p.id
"""  # noqa: S608


def scoring_event_from_row(row: asyncpg.Record) -> ScoringEvent:
    return ScoringEvent(
        id=row["id"],
        format=row["format"],
        lat=row["lat"],
        lon=row["lon"],
        tags=tuple(row["tags"]),
        intensity=row["intensity"],
        group_size=row["group_size"],
        structure=row["structure"],
        noise=row["noise"],
        talking_optional=row["talking_optional"],
        newcomer_support=row["newcomer_support"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        timezone=row["timezone"],
        recurrence=row["recurrence"],
        over_at=row["over_at"],
        status=row["status"],
        cost_cents=row["cost_cents"],
        currency=row["currency"],
        languages=tuple(row["languages"]),
        accessibility=tuple(row["accessibility"]),
        support=tuple(row["support"]),
    )


def scoring_profile_from_row(row: asyncpg.Record) -> ScoringProfile:
    return ScoringProfile(
        id=row["id"],
        home_lat=row["home_lat"],
        home_lon=row["home_lon"],
        radius_km=row["radius_km"],
        interests={str(k): float(v) for k, v in row["interests"].items()},
        comfort_level=row["comfort_level"],
        open_to_stretch=row["open_to_stretch"],
        formats=tuple(row["formats"]),
        max_cost_cents=row["max_cost_cents"],
        currency=row["currency"],
        languages=tuple(row["languages"]),
        accessibility_needs=tuple(row["accessibility_needs"]),
        availability=availability_from_wire(row["availability"]),
        timezone=row["timezone"],
        max_events_per_week=row["max_events_per_week"],
        seeking=tuple(row["seeking"]),
        hidden_event_ids=frozenset(row["hidden"]),
    )


async def load_event(conn: asyncpg.Connection, event_id: int) -> tuple[ScoringEvent, int] | None:
    """The event and its sequence (key-share locked), or None when it is gone."""
    row = await conn.fetchrow(SELECT_EVENT, event_id)
    return None if row is None else (scoring_event_from_row(row), row["sequence"])


async def load_events(conn: asyncpg.Connection, event_ids: list[int]) -> list[ScoringEvent]:
    """These events (those still there), key-share locked, by id."""
    return [scoring_event_from_row(r) for r in await conn.fetch(SELECT_EVENTS, event_ids)]


async def load_live_events(conn: asyncpg.Connection, now: datetime) -> list[ScoringEvent]:
    """Every scheduled event not over at `now`."""
    return [scoring_event_from_row(r) for r in await conn.fetch(SELECT_LIVE_EVENTS, now)]


async def load_profiles(conn: asyncpg.Connection, profile_ids: list[int]) -> list[ScoringProfile]:
    """These profiles (those still there) with their hidden events, key-share locked."""
    return [scoring_profile_from_row(r) for r in await conn.fetch(SELECT_PROFILES, profile_ids)]


async def load_profile_range(
    conn: asyncpg.Connection, first_id: int, last_id: int
) -> list[ScoringProfile]:
    """Profiles with ids in [first_id, last_id], by id."""
    return [
        scoring_profile_from_row(r)
        for r in await conn.fetch(SELECT_PROFILE_RANGE, first_id, last_id)
    ]


HOLDS_DATA = """
SELECT EXISTS (SELECT 1 FROM organisers) OR EXISTS (SELECT 1 FROM events)
    OR EXISTS (SELECT 1 FROM profiles)
"""
LOCK_DEMO = "SELECT pg_advisory_xact_lock(hashtext('lowkey.demo'))"


async def lock_and_check_empty(conn: asyncpg.Connection) -> bool:
    """In a transaction: serialise demo loaders, then True when no organiser, event or
    profile exists (the demo city only ever goes into an empty database)."""
    await conn.execute(LOCK_DEMO)
    holds: bool = await conn.fetchval(HOLDS_DATA)
    return not holds
