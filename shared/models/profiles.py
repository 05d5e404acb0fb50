"""A user's profile on the wire: the create, update and read shapes and their rules.

Cross-field rules live in `__post_init__` (msgspec turns their ValueError into a 422).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from shared.models.buddies import Buddy
from shared.models.checkins import Checkin, ComfortChange
from shared.models.common import (
    NOT_BLANK_PATTERN,
    TEXT_PATTERN,
    Base,
    Cents,
    CurrencyCode,
    LanguageCode,
    Latitude,
    Longitude,
    TimeZoneName,
    normalise_slug,
    pattern_with_reason,
    together,
)
from shared.models.events import AccessibilityFeature
from shared.models.support import SupportKinds

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MeetingFormat = Literal["in_person", "online"]
FORMATS: tuple[MeetingFormat, ...] = ("in_person", "online")

CLOCK_FROM = pattern_with_reason(
    r"^([01][0-9]|2[0-3]):[0-5][0-9]$(?!\n)", "must be a time of day HH:MM, 00:00 to 23:59"
)
# "24:00" ends a window at midnight; an earlier `to` than `from` runs past midnight.
CLOCK_TO = pattern_with_reason(
    r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$(?!\n)",
    "must be a time of day HH:MM, 00:00 to 24:00",
)
ClockFrom = Annotated[str, Meta(pattern=CLOCK_FROM, description="HH:MM")]
ClockTo = Annotated[str, Meta(pattern=CLOCK_TO, description="HH:MM or 24:00")]
# At least 100 m: the home point itself is only kept to about 100 m.
RadiusKm = Annotated[float, Meta(ge=0.1, le=200, description="how far the user will travel")]
InterestWeight = Annotated[float, Meta(gt=0, le=1)]
Interests = Annotated[dict[str, InterestWeight], Meta(max_length=50)]
ComfortLevel = Annotated[
    int, Meta(ge=1, le=5, description="1 = only the gentlest events … 5 = anything")
]
Formats = Annotated[list[MeetingFormat], Meta(min_length=1, max_length=2)]
Languages = Annotated[list[LanguageCode], Meta(max_length=20)]
AccessibilityNeeds = Annotated[list[AccessibilityFeature], Meta(max_length=20)]
EventsPerWeek = Annotated[int, Meta(ge=1, le=50)]
DisplayName = Annotated[str, Meta(min_length=1, max_length=80, pattern=TEXT_PATTERN)]
# SPEC "Discreet calendars": a discreet feed names nothing but its label.
FeedStyle = Literal["standard", "discreet"]
CalendarLabel = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=40,
        pattern=NOT_BLANK_PATTERN,
        description="a discreet feed's name and every entry's title",
        examples=["Plans"],
    ),
]
DEFAULT_CALENDAR_LABEL = "Plans"


def normalise_interests(raw: dict[str, float]) -> dict[str, float]:
    """Keys become slugs (trimmed, lowercased, spaces to `-`); a clash or a non-slug is refused."""
    out: dict[str, float] = {}
    for key, weight in raw.items():
        slug = normalise_slug(key)
        if slug is None:
            raise ValueError(f"interests: {key!r} is not a slug (a-z, 0-9 and hyphens, at most 40)")
        if slug in out:
            raise ValueError(f"interests: {key!r} repeats {slug!r}")
        out[slug] = weight
    return out


def check_cost(max_cost_cents: int | None, currency: str | None) -> None:
    if (max_cost_cents is None) != (currency is None):
        raise ValueError("max_cost_cents/currency: give both or neither")


class Home(Base, kw_only=True):
    """Rounded to 3 decimals (about 100 m) on arrival: a precise home is never kept."""

    lat: Latitude
    lon: Longitude

    def __post_init__(self) -> None:
        self.lat = round(self.lat, 3)
        self.lon = round(self.lon, 3)


class AvailabilityWindow(Base, kw_only=True):
    """Weekdays and a [from, to) wall-clock window in the profile's time zone."""

    days: Annotated[list[Weekday], Meta(min_length=1, max_length=7)]
    start: ClockFrom = msgspec.field(name="from")
    end: ClockTo = msgspec.field(name="to")

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("to: must differ from `from`")
        self.days = list(dict.fromkeys(self.days))


Availability = Annotated[list[AvailabilityWindow], Meta(max_length=50)]


class ProfileCreate(Base, kw_only=True):
    __openapi_rules__ = (together("max_cost_cents", "currency"),)

    display_name: DisplayName | None = None
    home: Home
    radius_km: RadiusKm
    interests: Interests = msgspec.field(default_factory=dict)
    comfort_level: ComfortLevel
    open_to_stretch: bool = False
    formats: Formats = msgspec.field(default_factory=lambda: list(FORMATS))
    max_cost_cents: Cents | None = None
    currency: CurrencyCode | None = None
    languages: Languages = msgspec.field(default_factory=list)
    accessibility_needs: AccessibilityNeeds = msgspec.field(default_factory=list)
    availability: Availability = msgspec.field(default_factory=list)
    timezone: TimeZoneName = "UTC"
    max_events_per_week: EventsPerWeek = 3
    feed_style: FeedStyle = "standard"
    calendar_label: CalendarLabel = DEFAULT_CALENDAR_LABEL
    adapt_comfort: bool = False  # consent to check-ins moving comfort_level
    seeking: SupportKinds = msgspec.field(default_factory=list)  # the support one would like

    def __post_init__(self) -> None:
        self.interests = normalise_interests(self.interests)
        self.seeking = list(dict.fromkeys(self.seeking))
        self.formats = list(dict.fromkeys(self.formats))
        self.languages = list(dict.fromkeys(self.languages))
        self.accessibility_needs = list(dict.fromkeys(self.accessibility_needs))
        check_cost(self.max_cost_cents, self.currency)


class ProfileUpdate(Base, kw_only=True):
    """PATCH: only the named fields change; `null` clears the optional ones."""

    display_name: DisplayName | UnsetType | None = UNSET
    home: Home | UnsetType = UNSET
    radius_km: RadiusKm | UnsetType = UNSET
    interests: Interests | UnsetType = UNSET
    comfort_level: ComfortLevel | UnsetType = UNSET
    open_to_stretch: bool | UnsetType = UNSET
    formats: Formats | UnsetType = UNSET
    max_cost_cents: Cents | UnsetType | None = UNSET
    currency: CurrencyCode | UnsetType | None = UNSET
    languages: Languages | UnsetType = UNSET
    accessibility_needs: AccessibilityNeeds | UnsetType = UNSET
    availability: Availability | UnsetType = UNSET
    timezone: TimeZoneName | UnsetType = UNSET
    max_events_per_week: EventsPerWeek | UnsetType = UNSET
    feed_style: FeedStyle | UnsetType = UNSET
    calendar_label: CalendarLabel | UnsetType = UNSET
    adapt_comfort: bool | UnsetType = UNSET
    seeking: SupportKinds | UnsetType = UNSET

    def __post_init__(self) -> None:
        if not isinstance(self.interests, UnsetType):
            self.interests = normalise_interests(self.interests)

    def given(self) -> dict[str, Any]:
        """The named fields only, as plain values (nested Structs stay Structs)."""
        return {
            f: getattr(self, f)
            for f in self.__struct_fields__
            if not isinstance(getattr(self, f), UnsetType)
        }


class Profile(Base, kw_only=True):
    """What is stored about a user, as the user sees it (never a token or its hash)."""

    id: int
    display_name: str | None
    home: Home
    radius_km: float
    interests: dict[str, float]
    comfort_level: int
    open_to_stretch: bool
    formats: list[MeetingFormat]
    max_cost_cents: int | None
    currency: str | None
    languages: list[str]
    accessibility_needs: list[str]
    availability: list[AvailabilityWindow]
    timezone: str
    max_events_per_week: int
    feed_style: FeedStyle
    calendar_label: str
    adapt_comfort: bool
    seeking: list[str]
    created_at: datetime
    updated_at: datetime


class ProfileWithFeed(Profile, kw_only=True):
    feed_url: str
    webcal_url: str
    comfort_changes: list[ComfortChange] = msgspec.field(default_factory=list)  # newest first


class ProfileCreated(ProfileWithFeed, kw_only=True):
    token: str
    """The profile token for `/v1/me…`; shown only in this answer."""


class FeedUrls(Base, kw_only=True):
    feed_url: str
    webcal_url: str


class HiddenEvent(Base, kw_only=True):
    event_id: int
    created_at: datetime


class ExportedMatch(Base, kw_only=True):
    """One stored match as a person reads it: the event's title and next date, why it was
    suggested (the API's explanation, distance first) and its numbers rounded as
    `GET /v1/me/matches` rounds them."""

    event_id: int
    title: str
    next_starts_at: str | None  # local wall-clock time in `timezone`; None once over
    timezone: str
    explanation: str
    score: float
    components: dict[str, float | None]  # support: null when not counted
    distance_km: float | None
    weight_version: int  # the active weights it is weighed with
    together: bool = False  # a together match (SPEC "A trusted person")
    scored_at: datetime


class ProfileExport(Base, kw_only=True):
    """Everything stored about a user (`GET /v1/me/export`)."""

    profile: ProfileWithFeed
    hidden_events: list[HiddenEvent]
    matches: list[ExportedMatch]
    idempotency_records: int
    buddy: Buddy | None = None
    checkins: list[Checkin] = msgspec.field(default_factory=list)  # newest first
    comfort_changes: list[ComfortChange] = msgspec.field(default_factory=list)  # newest first
    exported_at: datetime
