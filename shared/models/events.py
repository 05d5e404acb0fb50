"""Wire shapes of an event (create, partial update, read) and the SPEC's event rules that
one field's type cannot say: times in their zone, the series, venue and link per format.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, NamedTuple, get_args

import msgspec
from msgspec import UNSET, Meta, UnsetType

from shared import timeutil
from shared.match_rules import intensity
from shared.models.common import (
    LINES_PATTERN,
    LOCAL_TIME_PATTERN,
    AddressText,
    Base,
    Cents,
    CurrencyCode,
    LanguageCode,
    Latitude,
    Longitude,
    LongText,
    ShortText,
    TimeZoneName,
    WebUrl,
    normalise_slug,
)
from shared.models.support import SupportKinds
from shared.recurrence import normalise as normalise_recurrence

EventFormat = Literal["in_person", "online", "hybrid"]
Structure = Literal["structured", "semi", "open"]
Noise = Literal["quiet", "moderate", "loud"]
Status = Literal["scheduled", "cancelled"]
# The accessibility vocabulary: events' `accessibility` and profiles' `accessibility_needs`.
AccessibilityFeature = Literal[
    "step_free",
    "wheelchair",
    "quiet_room",
    "transit_nearby",
    "hearing_loop",
    "accessible_toilet",
    "seating",
    "sign_language",
    "large_print",
    "parking",
]
ACCESSIBILITY: tuple[str, ...] = get_args(AccessibilityFeature)

LocalTime = Annotated[
    str,
    Meta(
        pattern=LOCAL_TIME_PATTERN,
        description="local wall-clock time in `timezone`, without an offset",
        examples=["2026-12-01T19:00:00"],
    ),
]
Recurrence = Annotated[
    str,
    Meta(
        min_length=6,
        max_length=300,
        description="RFC 5545 RRULE value, FREQ=DAILY|WEEKLY|MONTHLY|YEARLY, without DTSTART; "
        "starts_at must be its first occurrence; INTERVAL 1-99; no BYHOUR, BYMINUTE, BYSECOND "
        "or BYSETPOS; UNTIL as a date, a local time or a UTC time; the last occurrence at "
        "most 10 years ahead",
        examples=["FREQ=WEEKLY;BYDAY=TU"],
    ),
]
RawTag = Annotated[str, Meta(min_length=1, max_length=100, description="trimmed, lowercased")]
OnlineUrl = WebUrl
GroupSize = Annotated[int, Meta(ge=1, le=10000, description="expected number of people")]
Address = AddressText


class Venue(Base):
    name: ShortText | None = None
    address: Address | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None


# The first-visit texts may have lines (stored with CR/CRLF as LF and TAB as a space).
_MULTILINE = {"lowkey_multiline": True}
HowToFind = Annotated[
    str,
    Meta(
        max_length=300,
        description="how to find the way in and the room",
        examples=["side door on Park Lane, room 2, first floor"],
        pattern=LINES_PATTERN,
        extra=_MULTILINE,
    ),
]
Greeter = Annotated[
    str,
    Meta(
        max_length=120,
        description="who welcomes newcomers and how to spot them, as a sentence; giving one "
        "makes newcomer_support true",
        examples=["Sam, in the green scarf, greets newcomers at the door"],
        pattern=LINES_PATTERN,
        extra=_MULTILINE,
    ),
]
WhatToBring = Annotated[
    str,
    Meta(
        max_length=200,
        description="what to bring, if anything",
        examples=["a pen"],
        pattern=LINES_PATTERN,
        extra=_MULTILINE,
    ),
]


class FirstVisit(Base):
    """What a newcomer can expect (SPEC "What to expect"); every part optional. Blank
    texts count as not given."""

    how_to_find: HowToFind | None = None
    greeter: Greeter | None = None
    what_to_bring: WhatToBring | None = None
    leaving_early_ok: bool | None = None

    def __post_init__(self) -> None:
        for name in ("how_to_find", "greeter", "what_to_bring"):
            text = getattr(self, name)
            if text is not None:
                setattr(self, name, text.strip() or None)

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.__struct_fields__)


# The format's rules as JSON Schema (check_event applies them): a link unless in person; a
# venue unless online, placed by lat+lon, or by address alone when a geocoder is configured.
_NUMBER, _NULL = {"type": "number"}, {"type": "null"}
FORMAT_RULES = (
    {
        "if": {"properties": {"format": {"enum": ["online", "hybrid"]}}},
        "then": {"required": ["online_url"], "properties": {"online_url": {"type": "string"}}},
    },
    {
        "if": {"properties": {"format": {"enum": ["in_person", "hybrid"]}}},
        "then": {
            "required": ["venue"],
            "properties": {
                "venue": {
                    "type": "object",
                    "anyOf": [
                        {
                            "required": ["lat", "lon"],
                            "properties": {"lat": _NUMBER, "lon": _NUMBER},
                        },
                        {
                            "description": "only when the server has a geocoder",
                            "required": ["address"],
                            "properties": {
                                "address": {"type": "string"},
                                "lat": _NULL,
                                "lon": _NULL,
                            },
                        },
                    ],
                }
            },
        },
    },
)


class EventCreate(Base):
    """What an organiser posts; `venue` is required unless online, `online_url` unless in person."""

    __openapi_rules__ = FORMAT_RULES

    title: ShortText
    starts_at: LocalTime
    ends_at: LocalTime
    timezone: TimeZoneName
    format: EventFormat
    group_size: GroupSize
    structure: Structure
    noise: Noise
    talking_optional: bool
    newcomer_support: bool
    description: LongText = ""
    recurrence: Recurrence | None = None
    venue: Venue | None = None
    online_url: OnlineUrl | None = None
    tags: Annotated[list[RawTag], Meta(max_length=20)] = []
    cost_cents: Cents = 0
    currency: CurrencyCode = "EUR"
    accessibility: Annotated[list[AccessibilityFeature], Meta(max_length=10)] = []
    languages: Annotated[list[LanguageCode], Meta(max_length=20)] = []
    first_visit: FirstVisit | None = None
    support: SupportKinds = []  # the kinds of support it gives; empty: not said


class EventUpdate(Base):
    """A PATCH: fields not named stay as they are; `venue` is replaced as a whole."""

    title: ShortText | UnsetType = UNSET
    starts_at: LocalTime | UnsetType = UNSET
    ends_at: LocalTime | UnsetType = UNSET
    timezone: TimeZoneName | UnsetType = UNSET
    format: EventFormat | UnsetType = UNSET
    group_size: GroupSize | UnsetType = UNSET
    structure: Structure | UnsetType = UNSET
    noise: Noise | UnsetType = UNSET
    talking_optional: bool | UnsetType = UNSET
    newcomer_support: bool | UnsetType = UNSET
    description: LongText | UnsetType = UNSET
    recurrence: Recurrence | UnsetType | None = UNSET
    venue: Venue | UnsetType | None = UNSET
    online_url: OnlineUrl | UnsetType | None = UNSET
    tags: Annotated[list[RawTag], Meta(max_length=20)] | UnsetType = UNSET
    cost_cents: Cents | UnsetType = UNSET
    currency: CurrencyCode | UnsetType = UNSET
    accessibility: Annotated[list[AccessibilityFeature], Meta(max_length=10)] | UnsetType = UNSET
    languages: Annotated[list[LanguageCode], Meta(max_length=20)] | UnsetType = UNSET
    first_visit: FirstVisit | UnsetType | None = UNSET  # replaced as a whole; null clears
    support: SupportKinds | UnsetType = UNSET


class Event(Base):
    """An event as the API shows it; the server sets everything after `languages`."""

    id: int
    organiser_id: int
    title: str
    description: str
    starts_at: str
    ends_at: str
    timezone: str
    recurrence: str | None
    format: EventFormat
    venue: Venue | None
    online_url: str | None
    tags: list[str]
    group_size: int
    structure: Structure
    noise: Noise
    talking_optional: bool
    newcomer_support: bool
    cost_cents: int
    currency: str
    accessibility: list[str]
    languages: list[str]
    first_visit: FirstVisit | None
    support: list[str]
    intensity: int
    status: Status
    sequence: int
    starts_at_utc: datetime
    ends_at_utc: datetime
    over_at: datetime | None
    # The first occurrence that has not ended (local in `timezone`, and UTC); null once over.
    next_starts_at: str | None
    next_starts_at_utc: datetime | None
    created_at: datetime
    updated_at: datetime


CREATE_FIELDS = EventCreate.__struct_fields__


class EventInvalid(ValueError):
    """The event breaks rules; `errors` names each field and why."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {r}" for f, r in errors))
        self.errors = errors


class CheckedEvent(NamedTuple):
    """An event that passed every rule, with what the server derives from it."""

    data: EventCreate
    starts_at: datetime
    ends_at: datetime
    starts_at_utc: datetime
    ends_at_utc: datetime
    over_at: datetime | None
    intensity: int
    needs_geocoding: bool


def as_create(event: Event) -> EventCreate:
    """The stored event as the organiser would post it (the base a PATCH applies to)."""
    return EventCreate(**{name: getattr(event, name) for name in CREATE_FIELDS})


def apply_update(base: EventCreate, update: EventUpdate) -> EventCreate:
    changes = {
        name: value
        for name in EventUpdate.__struct_fields__
        if (value := getattr(update, name)) is not UNSET
    }
    return msgspec.structs.replace(base, **changes)


_Times = tuple[datetime, datetime, datetime, datetime, datetime | None]


def _times(data: EventCreate, now: datetime, errors: list[tuple[str, str]]) -> _Times | None:
    before = len(errors)
    try:
        tz = timeutil.zone(data.timezone)
    except ValueError as exc:
        errors.append(("timezone", str(exc)))
        tz = None
    local: dict[str, datetime] = {}
    for name in ("starts_at", "ends_at"):
        try:
            local[name] = timeutil.parse_local(getattr(data, name))
            if tz is not None:
                # The bounds first: a time near the calendar's ends cannot be converted.
                timeutil.check_bounds(local[name], tz, now=now)
                timeutil.to_utc(local[name], tz)
        except ValueError as exc:
            errors.append((name, str(exc)))
    if len(local) == 2 and local["ends_at"] <= local["starts_at"]:
        errors.append(("ends_at", "must be after starts_at"))
    if tz is None or len(errors) > before:
        return None
    starts, ends = local["starts_at"], local["ends_at"]
    try:
        over = timeutil.schedule(starts, ends, tz, data.recurrence, now=now).over_at()
    except ValueError as exc:
        errors.append(("recurrence", str(exc)))
        return None
    if over is not None and over <= now:
        if data.recurrence is None:
            errors.append(("ends_at", "has passed: the event is already over"))
        else:
            errors.append(("recurrence", "has no occurrence left: the series is already over"))
        return None
    return starts, ends, timeutil.to_utc(starts, tz), timeutil.to_utc(ends, tz), over


def _venue(data: EventCreate, can_geocode: bool, errors: list[tuple[str, str]]) -> bool:
    """Checks venue and link for the format; True when the venue must be geocoded."""
    if data.format in ("online", "hybrid") and data.online_url is None:
        errors.append(("online_url", f"required when format is {data.format}"))
    venue = data.venue
    if data.format == "online":
        return False
    if venue is None:
        errors.append(("venue", f"required when format is {data.format}"))
        return False
    if (venue.lat is None) != (venue.lon is None):
        errors.append(("venue.lat/venue.lon", "give both or neither"))
        return False
    if venue.lat is not None:
        return False
    if venue.address is None:
        errors.append(("venue.lat/venue.lon", "required (or venue.address with a geocoder)"))
        return False
    if not can_geocode:
        errors.append(("venue.lat/venue.lon", "required (no geocoder configured)"))
        return False
    return True


def check_event(
    data: EventCreate, *, can_geocode: bool, now: datetime | None = None
) -> CheckedEvent:
    """Apply every SPEC rule at once (as of `now`, by default the clock's); raises
    EventInvalid naming each failing field. Bounded: the rule check examines at most
    shared.recurrence.DAY_BUDGET days (a few milliseconds)."""
    now = now or datetime.now(UTC)
    errors: list[tuple[str, str]] = []
    recurrence = data.recurrence
    if recurrence is not None:
        try:
            recurrence = normalise_recurrence(recurrence)
        except ValueError as exc:
            errors.append(("recurrence", str(exc)))
            recurrence = None
    tags: list[str] = []
    for i, raw in enumerate(data.tags):
        slug = normalise_slug(raw)
        if slug is None:
            errors.append((f"tags[{i}]", f"{raw!r} is not a tag slug ([a-z0-9]+(-[a-z0-9]+)*)"))
        elif slug not in tags:
            tags.append(slug)
    first_visit = data.first_visit
    if first_visit is not None and first_visit.is_empty():
        first_visit = None
    data = msgspec.structs.replace(
        data,
        recurrence=recurrence,
        tags=tags,
        accessibility=list(dict.fromkeys(data.accessibility)),
        languages=list(dict.fromkeys(data.languages)),
        support=list(dict.fromkeys(data.support)),
        first_visit=first_visit,
        # SPEC: naming a greeter is newcomer support (and so lowers the intensity).
        newcomer_support=data.newcomer_support
        or (first_visit is not None and first_visit.greeter is not None),
    )
    needs_geocoding = _venue(data, can_geocode, errors)
    times = _times(data, now, errors)
    if errors or times is None:
        raise EventInvalid(errors or [("body", "invalid event")])
    starts, ends, starts_utc, ends_utc, over = times
    is_open, is_loud = data.structure == "open", data.noise == "loud"
    level = intensity(
        data.group_size, is_open, is_loud, data.talking_optional, data.newcomer_support
    )
    return CheckedEvent(data, starts, ends, starts_utc, ends_utc, over, level, needs_geocoding)
