"""Events: organisers post, change, cancel and delete theirs; anyone reads and searches.

Every write records an outbox row in its transaction and enqueues scoring after commit.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated

import anyio.to_thread
import asyncpg
import msgspec
from arq.connections import ArqRedis
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from services.api.auth import Caller, CallerDep, organiser_only
from services.api.responses import IdempotencyKey, problems
from shared import geocoding
from shared.db.events import (
    SearchFilter,
    cancel_event,
    delete_event,
    get_event,
    insert_event,
    search_box,
    search_events,
    update_event,
)
from shared.db.outbox import add_outbox
from shared.geodesy import distances_km
from shared.http.cursor import Cursor, aware_datetime, bigint, decode_cursor, encode_cursor
from shared.http.deps import PoolDep, QueueDep, SettingsDep
from shared.http.problems import Conflict, Forbidden, Invalid, NotFound, Unavailable
from shared.models.common import Page, normalise_slug, pattern_with_reason
from shared.models.events import (
    CheckedEvent,
    Event,
    EventCreate,
    EventInvalid,
    EventUpdate,
    apply_update,
    as_create,
    check_event,
)
from shared.queue import enqueue_after_commit
from shared.settings import Settings

MIN_RADIUS_KM, MAX_RADIUS_KM = 0.01, 500.0
# RFC 3339 with an offset, as `from`/`to` take it (the schema says so; parsing checks the rest).
INSTANT_PATTERN = pattern_with_reason(
    r"^[12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d"
    r"(:[0-5]\d(\.\d+)?)?(Z|z|[+-]([01]\d|2[0-3]):[0-5]\d)$(?!\n)",
    "must be an RFC 3339 time with an offset, like 2026-12-01T19:00:00+01:00",
)
# A geographic page reads candidates in batches; past this many batches it returns what it
# has with a cursor, so one request stays bounded however sparse the matches are.
MAX_BATCHES = 20


async def _checked(data: EventCreate, settings: Settings) -> CheckedEvent:
    """The SPEC's checks, in a worker thread: the rule check is bounded (a few thousand
    days examined at most) but CPU-bound, and the event loop keeps serving meanwhile."""
    check = functools.partial(check_event, data, can_geocode=settings.geocoder is not None)
    try:
        return await anyio.to_thread.run_sync(check)
    except EventInvalid as exc:
        raise Invalid(str(exc), errors=[{"field": f, "reason": r} for f, r in exc.errors]) from None


async def _geocoded(
    checked: CheckedEvent, settings: Settings, pool: asyncpg.Pool, queue: ArqRedis
) -> CheckedEvent:
    """Fill in the venue's lat/lon from its address when the event needs it."""
    venue = checked.data.venue
    if not checked.needs_geocoding or venue is None or venue.address is None:
        return checked
    try:
        lat, lon = await geocoding.geocode(venue.address, settings=settings, pool=pool, redis=queue)
    except geocoding.AddressUnknown:
        raise Invalid.field("venue.address", "the geocoder does not know this address") from None
    except geocoding.GeocoderUnavailable as exc:
        raise Unavailable(f"{exc}; give venue.lat/venue.lon or retry shortly") from None
    venue = msgspec.structs.replace(venue, lat=lat, lon=lon)
    data = msgspec.structs.replace(checked.data, venue=venue)
    return checked._replace(data=data, needs_geocoding=False)


async def _enqueue(
    pool: asyncpg.Pool, queue: ArqRedis, settings: Settings, outbox_id: int, event_id: int
) -> None:
    """After commit; with Redis down the outbox sweep enqueues it later."""
    await enqueue_after_commit(pool, queue, settings.redis_prefix, "event", outbox_id, event_id)


def _owned(event: Event | None, event_id: int, caller: Caller) -> Event:
    if event is None:
        raise NotFound(f"no event {event_id}")
    if event.organiser_id != caller.id:
        raise Forbidden("this event belongs to another organiser")
    return event


def _encode_cursor(event: Event) -> str:
    return encode_cursor(event.starts_at_utc.isoformat(), event.id)


def _decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    parts = decode_cursor(cursor, aware_datetime, bigint)
    return None if parts is None else (parts[0], parts[1])


def _instant(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise Invalid.field(
            name, "must be an RFC 3339 time like 2026-12-01T19:00:00+01:00"
        ) from None
    if at.tzinfo is None:
        raise Invalid.field(name, "must have an offset (e.g. Z or +01:00)")
    return at


def _within(events: list[Event], centre: tuple[float, float, float]) -> list[Event]:
    """The events whose venue lies within the exact geodesic radius of the centre."""
    lat, lon, radius_km = centre
    points = [(e.venue.lat, e.venue.lon) for e in events if e.venue is not None]
    km = distances_km(lat, lon, [p[0] or 0.0 for p in points], [p[1] or 0.0 for p in points])
    return [e for e, d in zip(events, km, strict=True) if d <= radius_km]


async def _search_page(
    conn: asyncpg.Connection,
    where: SearchFilter,
    centre: tuple[float, float, float] | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> Page[Event]:
    """One page in (starts_at_utc, id) order; the cursor is the last event shown, so
    candidates read past it but outside the radius are simply read again next time."""
    batch = limit + 1 if centre is None else min(4 * (limit + 1), 500)
    page: list[Event] = []
    rows: list[Event] = []
    for _ in range(MAX_BATCHES):
        rows = await search_events(conn, where, after, batch)
        for event in rows if centre is None else _within(rows, centre):
            page.append(event)
            if len(page) > limit:
                return Page(items=page[:limit], next=_encode_cursor(page[limit - 1]))
        if len(rows) < batch:
            return Page(items=page, next=None)
        after = (rows[-1].starts_at_utc, rows[-1].id)
    # Many candidates in the box, few within the radius: hand back what we have so far.
    return Page(items=page, next=_encode_cursor(rows[-1]))


class EventsController(Controller):
    path = "/v1/events"
    tags = ["events"]

    @post(
        "/",
        status_code=201,
        guards=[organiser_only],
        responses=problems(400, 401, 403, 413, 422, 503, post=True),
    )
    async def create(
        self,
        data: JSONBody[EventCreate],
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Event:
        """Post an event; the server derives intensity, status, sequence and the UTC times."""
        assert caller.id is not None
        checked = await _geocoded(await _checked(data, settings), settings, pool, queue)
        async with pool.acquire() as conn, conn.transaction():
            event = await insert_event(conn, caller.id, checked)
            outbox_id = await add_outbox(conn, "event", event.id)
        await _enqueue(pool, queue, settings, outbox_id, event.id)
        return event

    @get("/{event_id:int}", responses=problems(404))
    async def read(self, event_id: FromPath[int], pool: PoolDep) -> Event:
        """One event, whoever asks (cancelled and past ones too)."""
        async with pool.acquire() as conn:
            event = await get_event(conn, event_id)
        if event is None:
            raise NotFound(f"no event {event_id}")
        return event

    @patch(
        "/{event_id:int}",
        guards=[organiser_only],
        responses=problems(400, 401, 403, 404, 409, 413, 422, 503),
    )
    async def change(
        self,
        event_id: FromPath[int],
        data: JSONBody[EventUpdate],
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
    ) -> Event:
        """Change the named fields of one's own event (the whole event is checked again)."""
        async with pool.acquire() as conn:
            current = _owned(await get_event(conn, event_id), event_id, caller)
        base = as_create(current)
        checked = await _checked(apply_update(base, data), settings)
        if checked.data == base:
            return current  # nothing changes: no new sequence for calendars
        # Geocode outside the transaction: it may wait for the shared 1/s slot.
        checked = await _geocoded(checked, settings, pool, queue)
        async with pool.acquire() as conn, conn.transaction():
            locked = _owned(await get_event(conn, event_id, for_update=True), event_id, caller)
            if locked.sequence != current.sequence:
                raise Conflict("the event changed meanwhile; fetch it and retry")
            event = await update_event(conn, event_id, checked)
            outbox_id = await add_outbox(conn, "event", event_id)
        await _enqueue(pool, queue, settings, outbox_id, event_id)
        return event

    @post(
        "/{event_id:int}/cancel",
        status_code=200,
        guards=[organiser_only],
        responses=problems(401, 403, 404, post=True),
    )
    async def cancel(
        self,
        event_id: FromPath[int],
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
        idempotency_key: IdempotencyKey = None,
    ) -> Event:
        """Cancel one's own event; cancelling again answers the same event unchanged."""
        async with pool.acquire() as conn, conn.transaction():
            current = _owned(await get_event(conn, event_id, for_update=True), event_id, caller)
            if current.status == "cancelled":
                return current
            event = await cancel_event(conn, event_id)
            assert event is not None  # the row is locked and was scheduled
            outbox_id = await add_outbox(conn, "event", event_id)
        await _enqueue(pool, queue, settings, outbox_id, event_id)
        return event

    @delete(
        "/{event_id:int}",
        status_code=204,
        guards=[organiser_only],
        responses=problems(401, 403, 404),
    )
    async def remove(
        self,
        event_id: FromPath[int],
        caller: CallerDep,
        settings: SettingsDep,
        pool: PoolDep,
        queue: QueueDep,
    ) -> None:
        """Delete one's own event for good; its matches go with it."""
        async with pool.acquire() as conn, conn.transaction():
            _owned(await get_event(conn, event_id, for_delete=True), event_id, caller)
            await delete_event(conn, event_id)
            outbox_id = await add_outbox(conn, "event", event_id)
        await _enqueue(pool, queue, settings, outbox_id, event_id)

    @get("/", responses=problems(422))
    async def search(
        self,
        pool: PoolDep,
        lat: Annotated[float | None, QueryParameter(ge=-90, le=90)] = None,
        lon: Annotated[float | None, QueryParameter(ge=-180, le=180)] = None,
        radius_km: Annotated[
            float | None, QueryParameter(ge=MIN_RADIUS_KM, le=MAX_RADIUS_KM)
        ] = None,
        tag: Annotated[
            str | None, QueryParameter(max_length=100, description="normalised like event tags")
        ] = None,
        from_: Annotated[
            str | None,
            QueryParameter(
                name="from", pattern=INSTANT_PATTERN, description="RFC 3339 with offset"
            ),
        ] = None,
        to: Annotated[
            str | None, QueryParameter(pattern=INSTANT_PATTERN, description="RFC 3339 with offset")
        ] = None,
        max_intensity: Annotated[int | None, QueryParameter(ge=1, le=5)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
        cursor: Cursor = None,
    ) -> Page[Event]:
        """Scheduled events not over (at `from`, else now), soonest first; `lat`, `lon` and
        `radius_km` together keep those whose venue is within the geodesic radius."""
        geo = (lat, lon, radius_km)
        if any(v is not None for v in geo) and any(v is None for v in geo):
            raise Invalid.field("lat/lon/radius_km", "give all three or none")
        centre = None if lat is None or lon is None or radius_km is None else (lat, lon, radius_km)
        start, end = _instant("from", from_), _instant("to", to)
        slug = None if tag is None else normalise_slug(tag)
        if tag is not None and slug is None:
            raise Invalid.field("tag", "is not a tag slug ([a-z0-9]+(-[a-z0-9]+)*)")
        where = SearchFilter(
            not_over_at=start or datetime.now(UTC),
            before=end,
            tag=slug,
            max_intensity=max_intensity,
            box=None if centre is None else search_box(*centre),
        )
        async with pool.acquire() as conn:
            return await _search_page(conn, where, centre, _decode_cursor(cursor), limit)
