"""SQL for the feed service: find a feed by its token hash, read its matched events, keep renders.

Contract with every writer of what a feed shows (docs/DEVELOPING.md): a write to a profile's
`matches` rows bumps `profiles.matches_version` in the same transaction (shared/db/matches.py),
an event edit bumps it for every profile matched to the event (trigger, migration 0007), a
profile edit sets `profiles.updated_at`, and a full re-score's swap and a change of the
active weights bump `match_generation` (shared/db/rescore_tables.py, shared/db/weights.py).
So the cache key needs no look at the matches at all. A stored render also keeps the digest
of the selection it was made from (services/feed/render.py), so a key that moved on to an
unchanged selection relabels the stored bytes instead of replacing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import msgspec

from shared.db.weighing import ACTIVE_WEIGHTS, IS_MATCH, RANKED, WEIGHED
from shared.together import together_events

# The hot path: one unique-index read (profiles.feed_token_hash) and one primary-key read
# (feed_renders). `fresh` is false once the render's `fresh_until` has passed, judged by
# the database's clock (renders keyed by their week set none). The body is left out when
# the client already holds its ETag ($2), so a 304 ships no bytes. Availability comes as
# its JSON text, decoded only when a feed is rendered.
# Together matches (shared/together.py) follow the buddy's matches and availability: who
# the buddy is, their matches' version and their profile's last edit are in the key.
BUDDY_STATE = """(
    SELECT concat_ws('|', b.buddy_id, q.matches_version, q.updated_at)
    FROM buddies b JOIN profiles q ON q.id = b.buddy_id WHERE b.profile_id = p.id
) AS buddy_state"""
SELECT_FEED_STATE = f"""
SELECT p.id AS profile_id, p.timezone, p.max_events_per_week, p.matches_version, p.updated_at,
       p.availability::text AS availability, p.feed_style, p.calendar_label,
       (SELECT g.generation FROM match_generation g) AS generation, {BUDDY_STATE},
       r.render_key, r.selection, r.etag, r.last_modified,
       coalesce(r.fresh_until > now(), true) AS fresh,
       CASE WHEN r.etag = $2 THEN NULL ELSE r.body END AS body
FROM profiles p LEFT JOIN feed_renders r ON r.profile_id = p.id
WHERE p.feed_token_hash = $1
"""  # noqa: S608 (constant text)
# The same for many feeds at once, in one round trip (services/feed/lookups.py): item `i`
# of the token hashes ($1) with its client's ETag ($2); tokens no profile has give no row.
SELECT_FEED_STATES = f"""
SELECT t.i, p.id AS profile_id, p.timezone, p.max_events_per_week, p.matches_version,
       p.updated_at, p.availability::text AS availability, p.feed_style, p.calendar_label,
       (SELECT g.generation FROM match_generation g) AS generation, {BUDDY_STATE},
       r.render_key, r.selection, r.etag, r.last_modified,
       coalesce(r.fresh_until > now(), true) AS fresh,
       CASE WHEN r.etag = t.known_etag THEN NULL ELSE r.body END AS body
FROM unnest($1::bytea[], $2::text[]) WITH ORDINALITY AS t(token_hash, known_etag, i)
JOIN profiles p ON p.feed_token_hash = t.token_hash
LEFT JOIN feed_renders r ON r.profile_id = p.id
"""  # noqa: S608 (constant text)
# Everything an entry shows, and what the weekly cap needs; nothing about the profile.
# Events over since the feed's window began ($2) stay: their occurrences keep their slots.
SELECT_FEED_ROWS = f"""
WITH {ACTIVE_WEIGHTS}
SELECT m.event_id, {RANKED.format(together="$3")} AS score, x.text AS explanation,
       e.title, e.description, e.starts_at, e.ends_at, e.timezone, e.recurrence, e.over_at,
       e.status, e.sequence, e.updated_at, e.format, e.venue_name, e.venue_address, e.lat, e.lon,
       e.online_url, e.tags, e.intensity, e.group_size, e.structure, e.noise,
       e.talking_optional, e.newcomer_support, e.accessibility, e.first_visit::text AS first_visit
FROM matches m {WEIGHED}
JOIN events e ON e.id = m.event_id
JOIN match_explanations x ON x.id = m.explanation_id
WHERE m.profile_id = $1 AND {IS_MATCH} AND (e.over_at IS NULL OR e.over_at > $2)
ORDER BY 2 DESC, m.event_id
"""  # noqa: S608 (constant text)
# Last-Modified must say when the bytes last changed: a re-render that gives the same
# ETag (a new day, an unrelated profile edit) keeps the stored time. HTTP dates have
# whole seconds, so the time is stored truncated to compare exactly with If-Modified-Since.
# Inserting through the profiles row skips a profile erased meanwhile.
UPSERT_RENDER = """
INSERT INTO feed_renders
    (profile_id, render_key, selection, body, etag, fresh_until, last_modified)
SELECT p.id, $2, $6, $3, $4, $5, date_trunc('second', now()) FROM profiles p WHERE p.id = $1
ON CONFLICT (profile_id) DO UPDATE SET
    render_key = EXCLUDED.render_key,
    selection = EXCLUDED.selection,
    fresh_until = EXCLUDED.fresh_until,
    body = EXCLUDED.body,
    etag = EXCLUDED.etag,
    last_modified = CASE WHEN feed_renders.etag = EXCLUDED.etag
                         THEN feed_renders.last_modified ELSE EXCLUDED.last_modified END
RETURNING last_modified
"""
# A key that moved on to a selection that did not: the stored bytes stay, under the new key.
# Only while the stored render is still the one of that selection (a render of another,
# stored meanwhile by a concurrent request, is not relabelled).
REKEY_RENDER = """
UPDATE feed_renders SET render_key = $2
WHERE profile_id = $1 AND selection = $3
RETURNING last_modified
"""


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Feed queries leave no session state behind (no SET, LISTEN, cursors or advisory
    locks), so releasing a connection needs none of asyncpg's default RESET round trip."""


# The feed pool writes nothing but stored renders, which can always be made again: a
# render lost in a crash costs one render at the next poll, so its commits need not wait
# for the WAL to reach the disk (every poll after a weight change writes one).
FEED_SESSION = {"synchronous_commit": "off"}


async def create_feed_pool(database_url: str, *, max_size: int = 10) -> asyncpg.Pool:
    """A pool for feed queries only: one round trip per feed request instead of two."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=max_size,
        reset=_keep_session,
        command_timeout=30,
        server_settings=FEED_SESSION,
    )
    return pool


class FeedState(msgspec.Struct, frozen=True, kw_only=True):
    """A feed found by its token: what its cache key is made of, and its stored render."""

    profile_id: int
    timezone: str
    max_events_per_week: int
    matches_version: int  # bumped by every write to the profile's matches or their events
    updated_at: datetime  # set by every write to the profile itself
    availability: str  # the profile's availability windows, as JSON text
    feed_style: str  # "standard" or "discreet"
    calendar_label: str  # a discreet feed's name and every entry's title
    generation: int  # bumped by a full re-score's swap and by a change of the active weights
    buddy_state: str | None = None  # who the buddy is and what of theirs a render used
    render_key: str | None
    selection: str | None = None  # digest of what the stored render was made from
    etag: str | None
    last_modified: datetime | None
    fresh: bool  # false once the stored render's fresh_until has passed
    body: bytes | None  # None when absent, or when the client's ETag equals the stored one


class FeedRow(msgspec.Struct, frozen=True, kw_only=True):
    """One matched event as read for the feed (explanation already without distance)."""

    event_id: int
    score: float
    explanation: str
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    recurrence: str | None
    over_at: datetime | None
    status: str
    sequence: int
    updated_at: datetime
    format: str
    venue_name: str | None
    venue_address: str | None
    lat: float | None
    lon: float | None
    online_url: str | None
    tags: list[str]
    intensity: int
    group_size: int
    structure: str
    noise: str
    talking_optional: bool
    newcomer_support: bool
    accessibility: list[str] = []
    # The event's first_visit as JSON text (the feed pool decodes no jsonb), or None.
    first_visit: str | None = None


async def feed_state(
    conn: asyncpg.Connection | asyncpg.Pool, feed_token_hash: bytes, known_etag: str | None
) -> FeedState | None:
    """The feed whose token hashes to `feed_token_hash`, or None (unknown or rotated)."""
    row = await conn.fetchrow(SELECT_FEED_STATE, feed_token_hash, known_etag)
    if row is None:
        return None
    return FeedState(**dict(row))


async def feed_states(
    conn: asyncpg.Connection | asyncpg.Pool,
    lookups: Sequence[tuple[bytes, str | None]],
) -> list[FeedState | None]:
    """`feed_state` for each (token hash, known ETag), in order, in one query."""
    rows = await conn.fetch(
        SELECT_FEED_STATES, [h for h, _ in lookups], [etag for _, etag in lookups]
    )
    found: list[FeedState | None] = [None] * len(lookups)
    for row in rows:
        values = dict(row)
        position = values.pop("i") - 1
        found[position] = FeedState(**values)
    return found


async def feed_rows(
    conn: asyncpg.Connection | asyncpg.Pool, profile_id: int, *, over_after: datetime
) -> list[FeedRow]:
    """The profile's matches with their events, best first (a together match with its
    bonus), leaving out events over at or before `over_after` (the start of the feed's
    window)."""
    together = await together_events(conn, profile_id, datetime.now(UTC))
    rows = await conn.fetch(SELECT_FEED_ROWS, profile_id, over_after, together)
    return [FeedRow(**dict(row)) for row in rows]


async def store_render(
    conn: asyncpg.Connection | asyncpg.Pool,
    profile_id: int,
    *,
    render_key: str,
    selection: str | None,
    body: bytes,
    etag: str,
    fresh_until: datetime | None,
) -> datetime | None:
    """Keep a render of `selection`, good until `fresh_until` (None: while its key holds);
    returns its Last-Modified, or None when the profile is gone."""
    try:
        value: datetime | None = await conn.fetchval(
            UPSERT_RENDER, profile_id, render_key, body, etag, fresh_until, selection
        )
    except asyncpg.ForeignKeyViolationError:
        # Erased between the lookup and now: the feed no longer exists.
        return None
    return value


async def rekey_render(
    conn: asyncpg.Connection | asyncpg.Pool, profile_id: int, *, render_key: str, selection: str
) -> datetime | None:
    """Move the stored render of `selection` on to `render_key`; its Last-Modified, or None
    when the stored render is no longer that selection's (or the profile is gone)."""
    value: datetime | None = await conn.fetchval(REKEY_RENDER, profile_id, render_key, selection)
    return value
