"""SQL for the events table: write a checked event, read one, search by place and time."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from shared import timeutil
from shared.models.events import CheckedEvent, Event, FirstVisit, Venue

# The columns an organiser's input sets, in the order of $2.. in INSERT and UPDATE.
_INPUT_COLUMNS = (
    "title, description, starts_at, ends_at, timezone, starts_at_utc, ends_at_utc, recurrence, "
    "over_at, format, venue_name, venue_address, lat, lon, online_url, tags, group_size, "
    "structure, noise, talking_optional, newcomer_support, cost_cents, currency, accessibility, "
    "languages, first_visit, support, intensity"
)
_COLUMNS = f"id, organiser_id, {_INPUT_COLUMNS}, status, sequence, created_at, updated_at"

INSERT = f"""
INSERT INTO events (organiser_id, {_INPUT_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)
RETURNING {_COLUMNS}
"""  # noqa: S608 (only constant column lists are formatted in)
UPDATE = f"""
UPDATE events SET ({_INPUT_COLUMNS}, sequence, updated_at) =
    ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
     $21, $22, $23, $24, $25, $26, $27, $28, $29, sequence + 1, now())
WHERE id = $1
RETURNING {_COLUMNS}
"""  # noqa: S608 (only constant column lists are formatted in)
SELECT_ONE = f"SELECT {_COLUMNS} FROM events WHERE id = $1"  # noqa: S608
SELECT_FOR_UPDATE = f"SELECT {_COLUMNS} FROM events WHERE id = $1 FOR NO KEY UPDATE"  # noqa: S608
# Before a delete: FOR UPDATE waits for the scoring jobs that hold the row FOR KEY SHARE
# (shared/db/scoring_inputs.py) and keeps new ones out, so none holds a profile's lock
# that the delete's bump wants while waiting for the row the delete holds.
SELECT_FOR_DELETE = f"SELECT {_COLUMNS} FROM events WHERE id = $1 FOR UPDATE"  # noqa: S608
# Cancelling twice changes nothing the second time (no new SEQUENCE for calendars).
CANCEL = f"""
UPDATE events SET status = 'cancelled', sequence = sequence + 1, updated_at = now()
WHERE id = $1 AND status <> 'cancelled'
RETURNING {_COLUMNS}
"""  # noqa: S608 (only constant column lists are formatted in)
# Matches go with the event (ON DELETE CASCADE); their profiles' feeds must change too,
# bumped in id order like every bump (shared/db/matches.py), so no two bumps deadlock.
DELETE = """
WITH locked AS (
    SELECT p.id FROM profiles p
    WHERE p.id IN (SELECT profile_id FROM matches WHERE event_id = $1)
    ORDER BY p.id FOR NO KEY UPDATE
),
touched AS (
    UPDATE profiles p SET matches_version = p.matches_version + 1
    FROM locked WHERE p.id = locked.id
)
DELETE FROM events WHERE id = $1 RETURNING id
"""
# Rows that may break today's bounds: only a row saved before them (the API checks
# every write), so this scan finds them once and marks them over.
OPEN_SCHEDULED = """
SELECT id, starts_at, ends_at, timezone, recurrence FROM events
WHERE status = 'scheduled' AND (over_at IS NULL OR over_at > now()) AND id > $1
ORDER BY id LIMIT $2
"""
MARK_OVER = """
UPDATE events SET over_at = now()
WHERE id = ANY($1::bigint[]) AND (over_at IS NULL OR over_at > now())
RETURNING id
"""
# Search: upcoming, scheduled events in keyset order (starts_at_utc, id). `over_at > $1`
# is "not over at `from`" (now by default), `starts_at_utc < $2` "begins before `to`".
_SEARCH_WHERE = """
status = 'scheduled'
AND (over_at IS NULL OR over_at > $1)
AND ($2::timestamptz IS NULL OR starts_at_utc < $2)
AND ($3::text IS NULL OR tags @> ARRAY[$3::text])
AND ($4::int IS NULL OR intensity <= $4)
AND ($5::timestamptz IS NULL OR (starts_at_utc, id) > ($5, $6::bigint))
"""
SEARCH = f"""
SELECT {_COLUMNS} FROM events WHERE {_SEARCH_WHERE}
ORDER BY starts_at_utc, id LIMIT $7
"""  # noqa: S608
# The box (lon/lat degrees) only pre-filters, through the GiST index `events_venue_point`;
# the caller keeps what lies within the exact geodesic radius.
SEARCH_IN_BOX = f"""
SELECT {_COLUMNS} FROM events
WHERE lat IS NOT NULL AND point(lon, lat) <@ box(point($8, $9), point($10, $11))
AND {_SEARCH_WHERE}
ORDER BY starts_at_utc, id LIMIT $7
"""  # noqa: S608 (only constant column lists are formatted in)


class SearchFilter(msgspec.Struct, frozen=True, kw_only=True):
    not_over_at: datetime
    before: datetime | None = None
    tag: str | None = None
    max_intensity: int | None = None
    # (lon_min, lat_min, lon_max, lat_max) in degrees, or None for anywhere.
    box: tuple[float, float, float, float] | None = None


def search_box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """A (lon, lat) box holding every point within `radius_km` (geodesic) of the centre.

    Conservative on purpose: a degree of latitude is at least 110.57 km (we use 110), and
    the reachable longitude span is taken on a sphere of 6335 km (the ellipsoid's
    smallest radius of curvature) with a margin; near a pole or across ±180°, all longitudes.
    """
    dlat = radius_km / 110.0 + 0.01
    lat_min, lat_max = max(lat - dlat, -90.0), min(lat + dlat, 90.0)
    angle = radius_km / 6335.0
    if angle >= math.pi / 2 or math.sin(angle) >= math.cos(math.radians(lat)) - 1e-9:
        return (-180.0, lat_min, 180.0, lat_max)
    dlon = math.degrees(math.asin(math.sin(angle) / math.cos(math.radians(lat)))) * 1.01 + 0.01
    if lon - dlon < -180.0 or lon + dlon > 180.0:
        return (-180.0, lat_min, 180.0, lat_max)
    return (lon - dlon, lat_min, lon + dlon, lat_max)


def _first_visit_value(first_visit: FirstVisit | None) -> dict[str, Any] | None:
    """Kept with only the parts given (jsonb); None when nothing is said."""
    if first_visit is None:
        return None
    given = msgspec.structs.asdict(first_visit)
    return {name: value for name, value in given.items() if value is not None}


def _input_values(checked: CheckedEvent) -> tuple[Any, ...]:
    d = checked.data
    venue = d.venue or Venue()
    return (
        d.title,
        d.description,
        checked.starts_at,
        checked.ends_at,
        d.timezone,
        checked.starts_at_utc,
        checked.ends_at_utc,
        d.recurrence,
        checked.over_at,
        d.format,
        venue.name,
        venue.address,
        venue.lat,
        venue.lon,
        d.online_url,
        d.tags,
        d.group_size,
        d.structure,
        d.noise,
        d.talking_optional,
        d.newcomer_support,
        d.cost_cents,
        d.currency,
        d.accessibility,
        d.languages,
        _first_visit_value(d.first_visit),
        d.support,
        checked.intensity,
    )


def event_from_row(row: asyncpg.Record, *, now: datetime | None = None) -> Event:
    """The API's read shape of an event row, with its next start as of `now` (the clock's
    by default): every view of an event (read, search, matches) is built here."""
    r = dict(row)
    venue_fields = (r.pop("venue_name"), r.pop("venue_address"), r.pop("lat"), r.pop("lon"))
    has_venue = any(v is not None for v in venue_fields)
    r["venue"] = Venue(*venue_fields) if has_venue else None
    upcoming = timeutil.next_start(
        r["id"],
        r["starts_at"],
        r["ends_at"],
        r["timezone"],
        r["recurrence"],
        now or datetime.now(UTC),
    )
    r["next_starts_at"] = None if upcoming is None else upcoming.replace(tzinfo=None).isoformat()
    r["next_starts_at_utc"] = None if upcoming is None else upcoming.astimezone(UTC)
    r["starts_at"] = r["starts_at"].isoformat()
    r["ends_at"] = r["ends_at"].isoformat()
    return msgspec.convert(r, Event)


async def insert_event(conn: asyncpg.Connection, organiser_id: int, checked: CheckedEvent) -> Event:
    return event_from_row(await conn.fetchrow(INSERT, organiser_id, *_input_values(checked)))


async def update_event(conn: asyncpg.Connection, event_id: int, checked: CheckedEvent) -> Event:
    """Replace what the organiser sets; sequence +1, updated_at now."""
    return event_from_row(await conn.fetchrow(UPDATE, event_id, *_input_values(checked)))


async def get_event(
    conn: asyncpg.Connection, event_id: int, *, for_update: bool = False, for_delete: bool = False
) -> Event | None:
    """One event; `for_update` locks it for a change, `for_delete` for deleting it."""
    sql = SELECT_FOR_DELETE if for_delete else SELECT_FOR_UPDATE if for_update else SELECT_ONE
    row = await conn.fetchrow(sql, event_id)
    return None if row is None else event_from_row(row)


async def cancel_event(conn: asyncpg.Connection, event_id: int) -> Event | None:
    """Cancel a scheduled event; None when it was already cancelled (or is gone)."""
    row = await conn.fetchrow(CANCEL, event_id)
    return None if row is None else event_from_row(row)


async def delete_event(conn: asyncpg.Connection, event_id: int) -> bool:
    return await conn.fetchval(DELETE, event_id) is not None


async def search_events(
    conn: asyncpg.Connection,
    where: SearchFilter,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Event]:
    """One keyset page of candidates (box pre-filter only; the radius is the caller's)."""
    after_ts, after_id = after if after is not None else (None, None)
    args: list[Any] = [
        where.not_over_at,
        where.before,
        where.tag,
        where.max_intensity,
        after_ts,
        after_id,
        limit,
    ]
    if where.box is None:
        rows = await conn.fetch(SEARCH, *args)
    else:
        rows = await conn.fetch(SEARCH_IN_BOX, *args, *where.box)
    return [event_from_row(r) for r in rows]


async def open_scheduled(
    conn: asyncpg.Connection, after_id: int, limit: int
) -> list[asyncpg.Record]:
    """One page (by id) of the scheduled events not over: their times, zone and rule."""
    rows: list[asyncpg.Record] = await conn.fetch(OPEN_SCHEDULED, after_id, limit)
    return rows


async def mark_over(conn: asyncpg.Connection, event_ids: list[int]) -> list[int]:
    """Mark events over now (their stored rule or times are refused); the ids changed."""
    return [r["id"] for r in await conn.fetch(MARK_OVER, event_ids)]
