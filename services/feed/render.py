"""A feed's bytes: served from `feed_renders` while its cache key holds, else made again.

The key changes with `profiles.matches_version` (bumped by every write to the profile's
matches or their events), the profile's own `updated_at`, `match_generation` (a weight
change, a re-score's swap) and the week its window starts in. Within a week time alone
changes nothing: this week's occurrences keep their slots after they end, so a render
holds until the week rolls over.

When the key has moved on, the weekly cap selects the entries again (about a millisecond)
and the render is keyed on what came out: a digest of the entries as they would be written
(their events' data, sequences, EXDATEs and texts). A selection equal to the stored one
keeps the stored bytes and only moves the key on; only a selection that changed is
rendered, mostly from entries already written (services/feed/ical.py keeps them). So a
weight change renders only the feeds it changes.

Whatever is stored, a render is bounded (rows read, entries and EXDATEs kept, time taken)
and never fails the request: an event the renderer cannot handle is left out (logged
once), and a feed that still cannot be made is answered with its last good render, or
503 with Retry-After when there is none.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import anyio
import anyio.to_thread
import asyncpg
import msgspec
from prometheus_client import Counter

from services.feed.ical import FeedEntry, render_feed
from services.feed.lookups import LookupBatcher
from shared.db.feeds import (
    FeedRow,
    FeedState,
    feed_rows,
    feed_state,
    feed_states,
    rekey_render,
    store_render,
)
from shared.first_visit import first_visit_sentences
from shared.http.problems import Unavailable
from shared.models.events import FirstVisit
from shared.models.profiles import DEFAULT_CALENDAR_LABEL
from shared.occurrences import (
    CAP_WEEKS,
    CappedMatch,
    availability_from_wire,
    feed_window,
    weekly_cap,
)
from shared.settings import Settings
from shared.suggestions import cap_profile, scoring_event
from shared.tokens import feed_token_hash

log = logging.getLogger("lowkey.feed")

# Bump when the same data would render to other bytes, so stored renders are replaced.
RENDER_VERSION = 4
CALENDAR_NAME = "lowkey"
FeedFormat = Literal["in_person", "online", "hybrid"]
# The best-scored matches a render reads: far more than a window can show (12 weeks x
# at most 50 a week), so only the cost of a pathological profile is bounded.
MAX_FEED_ROWS = 2_000
# The SPEC's bound on a rule: at most 7 occurrences in any week, so at most this many
# EXDATEs per entry in the window; an entry with more comes from data outside the bounds.
MAX_EXDATES = 7 * CAP_WEEKS
# A render normally takes milliseconds; one that takes longer is abandoned (its thread
# left to finish) and the feed answered as a render that failed.
RENDER_TIMEOUT_S = 5.0
RENDER_FAILED = "this calendar cannot be made just now; retry later"

FEED_RENDERS = Counter(
    "lowkey_feed_renders_total",
    "Feed requests whose cache key had moved on: outcome=rendered when the bytes were made"
    " again, unchanged when the selection was the stored one and its bytes were kept",
    ["outcome"],
)


# Looks a feed up by (token hash, the client's ETag): `feed_state` on a pool, or a batcher.
StateLookup = Callable[[bytes, str | None], Awaitable[FeedState | None]]


class FeedSource:
    """What a feed request reads from, handed to the handler as one dependency (a single
    dependency resolves inline; two would cost a task group per request)."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool | None = None) -> None:
        self.settings = settings
        self.pool = pool
        self.lookups: LookupBatcher | None = None

    def open(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.lookups = LookupBatcher(lambda batch: feed_states(pool, batch))

    async def close(self) -> None:
        if self.lookups is not None:
            await self.lookups.close()
        if self.pool is not None:
            await self.pool.close()

    async def load(self, token: str, *, known_etag: str | None = None) -> ServedFeed | None:
        assert self.pool is not None and self.lookups is not None, "opened in the lifespan"
        return await load_feed(
            self.pool, self.settings, token, known_etag=known_etag, lookup=self.lookups.state
        )


class ServedFeed(msgspec.Struct, frozen=True, kw_only=True):
    etag: str
    last_modified: datetime
    body: bytes | None  # None when the client's If-None-Match already names `etag`


def feed_etag(body: bytes) -> str:
    """A strong validator from the bytes themselves."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def window_monday(timezone: str, now: datetime) -> date:
    """The Monday the feed's window starts on at `now` (the current week, in `timezone`)."""
    return feed_window(timezone, now).start.date()


def render_key(state: FeedState, week: date, public_url: str) -> str:
    """What a render depends on, in a short string; equal keys mean equal bytes."""
    parts = (
        RENDER_VERSION,
        public_url,
        state.matches_version,
        state.generation,
        state.updated_at.isoformat(),
        state.timezone,
        state.max_events_per_week,
        state.availability,
        state.feed_style,
        state.calendar_label,
        state.buddy_state,
    )
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]
    return f"v{RENDER_VERSION}:{week.isoformat()}:{digest}"


async def load_feed(
    pool: asyncpg.Pool,
    settings: Settings,
    token: str,
    *,
    known_etag: str | None = None,
    now: datetime | None = None,
    lookup: StateLookup | None = None,
) -> ServedFeed | None:
    """The feed for `token`, or None when no profile has it (unknown and rotated alike).
    `lookup` finds the state (the service's batcher); by default one query on `pool`."""
    assert settings.secret_key is not None
    # Always hashed and always looked up: an unknown and a rotated token take one path.
    hashed = feed_token_hash(settings.secret_key, token)
    if lookup is None:
        state = await feed_state(pool, hashed, known_etag)
    else:
        state = await lookup(hashed, known_etag)
    if state is None:
        return None
    stored = _stored(state)
    try:
        week = window_monday(state.timezone, now or datetime.now(UTC))
    except Exception as exc:  # a zone no reader knows: the stored render, or 503
        return _last_good(state, stored, exc)
    key = render_key(state, week, settings.public_url)
    fresh = state.fresh and state.render_key == key
    if fresh and stored is not None:
        return stored
    return await _render_and_store(pool, settings, state, key, week)


def _stored(state: FeedState) -> ServedFeed | None:
    if state.etag is None or state.last_modified is None:
        return None
    return ServedFeed(etag=state.etag, last_modified=state.last_modified, body=state.body)


def _last_good(state: FeedState, stored: ServedFeed | None, exc: BaseException) -> ServedFeed:
    """The answer for a feed whose render failed: its last good render, else 503."""
    log.error(
        "feed render failed",
        extra={
            "profile_id": state.profile_id,
            "error": type(exc).__name__,
            "served": "last good render" if stored is not None else "503",
        },
    )
    if stored is None:
        raise Unavailable(RENDER_FAILED) from exc
    return stored


async def _render_and_store(
    pool: asyncpg.Pool, settings: Settings, state: FeedState, key: str, week: date
) -> ServedFeed | None:
    stored = _stored(state)
    try:
        window = feed_window(state.timezone, _midnight(week, state.timezone))
    except Exception as exc:
        return _last_good(state, stored, exc)
    rows = (await feed_rows(pool, state.profile_id, over_after=window.start))[:MAX_FEED_ROWS]
    stored_selection = state.selection if stored is not None else None
    try:
        made = await _make(rows, state, week, settings.public_url, stored_selection)
        if made.body is None:
            assert stored is not None
            last_modified = await rekey_render(
                pool, state.profile_id, render_key=key, selection=made.selection
            )
            if last_modified is not None:
                FEED_RENDERS.labels("unchanged").inc()
                return stored
            # Another request stored a render of something else meanwhile: make this one.
            made = await _make(rows, state, week, settings.public_url, None)
    except Exception as exc:
        return _last_good(state, stored, exc)
    assert made.body is not None
    FEED_RENDERS.labels("rendered").inc()
    etag = feed_etag(made.body)
    # No time limit: the key names the week, and nothing else changes with time alone.
    last_modified = await store_render(
        pool,
        state.profile_id,
        render_key=key,
        selection=made.selection,
        body=made.body,
        etag=etag,
        fresh_until=None,
    )
    if last_modified is None:
        return None
    return ServedFeed(etag=etag, last_modified=last_modified, body=made.body)


async def _make(
    rows: Sequence[FeedRow],
    state: FeedState,
    week: date,
    public_url: str,
    stored_selection: str | None,
) -> MadeFeed:
    # Selecting and rendering are pure CPU (a cold render of 30 entries takes ~10 ms): off
    # the event loop, so cached feeds keep being served meanwhile, and holding no pooled
    # connection.
    with anyio.fail_after(RENDER_TIMEOUT_S):
        return await anyio.to_thread.run_sync(
            lambda: make_feed(
                rows,
                stored_selection=stored_selection,
                timezone=state.timezone,
                max_events_per_week=state.max_events_per_week,
                availability=state.availability,
                week=week,
                public_url=public_url,
                feed_style=state.feed_style,
                calendar_label=state.calendar_label,
            ),
            abandon_on_cancel=True,
        )


class PreparedFeed(msgspec.Struct, frozen=True, kw_only=True):
    """A feed's entries as the weekly cap selects them, ready to render; `selection` is the
    digest of everything its bytes are made from."""

    entries: list[FeedEntry]
    public_url: str
    calendar_name: str
    discreet: bool
    selection: str


class MadeFeed(msgspec.Struct, frozen=True, kw_only=True):
    selection: str
    body: bytes | None  # None: the stored render is of this selection, its bytes stand


def prepare_feed(
    rows: Sequence[FeedRow],
    *,
    timezone: str,
    max_events_per_week: int,
    availability: str,
    week: date,
    public_url: str,
    feed_style: str = "standard",
    calendar_label: str = DEFAULT_CALENDAR_LABEL,
) -> PreparedFeed:
    """Pure: matched rows, capped per week over the window that starts on `week` (a
    Monday), as the entries to render. `availability` is the profile's windows as JSON
    text; a `discreet` feed is named `calendar_label` and says nothing of its events.

    The cap sees every occurrence of the window, those already over too, so the selection
    depends only on the rows and the week, and stays the same all week.
    """
    capped = weekly_cap(
        cap_profile(
            timezone,
            max_events_per_week,
            availability_from_wire(msgspec.json.decode(availability)),
        ),
        [(scoring_event(row), row.score) for row in rows],
        now=_midnight(week, timezone),
    )
    by_id = {row.event_id: row for row in rows}
    shown = _bounded(capped, by_id, max_events_per_week)
    entries = [_entry(by_id[match.event_id], match) for match in shown]
    discreet = feed_style == "discreet"
    calendar_name = calendar_label if discreet else CALENDAR_NAME
    # `render_feed` is pure: these inputs, and RENDER_VERSION for the code, are its bytes.
    # It writes entries by event id, so the order the cap ranked them in is left out.
    written = sorted(entries, key=lambda entry: entry.event_id)
    made_from = msgspec.json.encode((RENDER_VERSION, public_url, calendar_name, discreet, written))
    return PreparedFeed(
        entries=entries,
        public_url=public_url,
        calendar_name=calendar_name,
        discreet=discreet,
        selection=hashlib.sha256(made_from).hexdigest()[:32],
    )


def render_prepared(prepared: PreparedFeed) -> bytes:
    return render_feed(
        prepared.entries,
        public_url=prepared.public_url,
        calendar_name=prepared.calendar_name,
        discreet=prepared.discreet,
    )


def build_feed(rows: Sequence[FeedRow], **options: Any) -> bytes:
    """Pure: the bytes of the feed of `rows` (options as `prepare_feed`)."""
    return render_prepared(prepare_feed(rows, **options))


def make_feed(rows: Sequence[FeedRow], *, stored_selection: str | None, **options: Any) -> MadeFeed:
    """The feed's selection, and its bytes unless `stored_selection` is already that
    selection's; each event whose data the renderer cannot handle is left out (each is
    tried alone once the whole fails). Raises only when the rest fails as well."""
    try:
        return _made(prepare_feed(rows, **options), stored_selection)
    except Exception:
        pass
    kept = []
    for row in rows:
        try:
            build_feed([row], **options)
        except Exception as exc:
            _log_unrenderable(row.event_id, type(exc).__name__)
        else:
            kept.append(row)
    return _made(prepare_feed(kept, **options), stored_selection)


def _made(prepared: PreparedFeed, stored_selection: str | None) -> MadeFeed:
    if prepared.selection == stored_selection:
        return MadeFeed(selection=prepared.selection, body=None)
    return MadeFeed(selection=prepared.selection, body=render_prepared(prepared))


_unrenderable: set[int] = set()


def _log_unrenderable(event_id: int, error: str) -> None:
    if event_id in _unrenderable:
        return  # once per process: every feed it is matched into would repeat it
    if len(_unrenderable) < 10_000:
        _unrenderable.add(event_id)
    log.error(
        "event left out of feeds: its stored data cannot be rendered",
        extra={"event_id": event_id, "error": error},
    )


def _bounded(
    capped: Sequence[CappedMatch], by_id: dict[int, FeedRow], max_events_per_week: int
) -> list[CappedMatch]:
    """The cap's picks (best first) within the feed's bounds: no more scheduled entries
    than the window has slots, as many cancelled ones at most (they keep slots they
    held), and no entry with more EXDATEs than a rule within the SPEC can have."""
    slots = CAP_WEEKS * max_events_per_week
    kept: list[CappedMatch] = []
    counts = {"scheduled": 0, "cancelled": 0}
    for match in capped:
        status = "cancelled" if by_id[match.event_id].status == "cancelled" else "scheduled"
        if len(match.exdates) > MAX_EXDATES:
            _log_unrenderable(match.event_id, f"more than {MAX_EXDATES} EXDATEs")
            continue
        if counts[status] >= slots:
            continue
        counts[status] += 1
        kept.append(match)
    return kept


def _midnight(day: date, timezone: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))


def _entry(row: FeedRow, shown: CappedMatch) -> FeedEntry:
    """The entry as the cap keeps it: a series from its first occurrence shown."""
    return FeedEntry(
        event_id=row.event_id,
        title=row.title,
        description=row.description,
        explanation=row.explanation,
        starts_at=shown.starts_at,
        ends_at=shown.starts_at + (row.ends_at - row.starts_at),
        timezone=row.timezone,
        updated_at=row.updated_at,
        recurrence=row.recurrence,
        until=shown.until,
        exdates=shown.exdates,
        status="cancelled" if row.status == "cancelled" else "scheduled",
        sequence=row.sequence,
        format=cast(FeedFormat, row.format),  # the schema CHECKs the values
        venue_name=row.venue_name,
        venue_address=row.venue_address,
        lat=row.lat,
        lon=row.lon,
        online_url=row.online_url,
        first_time=tuple(first_visit_sentences(_first_visit(row), row.accessibility)),
    )


def _first_visit(row: FeedRow) -> FirstVisit | None:
    if row.first_visit is None:
        return None
    return msgspec.json.decode(row.first_visit, type=FirstVisit)
