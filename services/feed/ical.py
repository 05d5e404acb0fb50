"""Pure rendering of a personal feed: FeedEntry structs in, RFC 5545 bytes out.

No I/O and no clock: equal input always gives byte-identical output.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from cachetools import LRUCache, cached
from icalendar import Calendar, Event, vDuration, vRecur

from shared.event_ics import event_uid
from shared.first_visit import HEADING as FIRST_TIME_HEADING
from shared.ical_text import IcalText as _Text
from shared.recurrence import with_utc_until
from shared.vtimezone import build_vtimezone

PRODID = "-//lowkey//feed 1.0//EN"
# A discreet feed's PRODID names no product: calendar apps can show it (e.g. in a
# subscription's details), and nothing there may name lowkey.
DISCREET_PRODID = "-//Calendar//Feed 1.0//EN"
# Matches change after re-scores and as weeks roll over, not minute by minute;
# clients that honour the hint (Apple, Thunderbird, Outlook) poll four-hourly.
REFRESH_INTERVAL = timedelta(hours=4)
UTC_TZID = "UTC"
WHY_PREFIX = "Why this was suggested: "
# Every standard entry ends with the link to say how it went (SPEC "Check-ins"); the page
# asks its person to sign in, so the link carries no secret.
CHECKIN_PREFIX = "Afterwards, say how it went: "
# VTIMEZONEs are written exactly for the events' years plus this margin, so an
# open-ended series stays right a while even in zones with no yearly rule.
_ZONE_YEARS_AHEAD = 2
# A distance in an explanation would hint at where the user lives; the API's
# explanation starts with one ("1.8 km away · …"), so drop such parts if a
# caller ever passes the API's text by mistake.
_CALENDAR_END = b"END:VCALENDAR\r\n"
# Bytes of written entries kept per process (about 1 KB an entry; the entries that key them
# take about as much again).
EVENT_BYTES_KEPT = 16 * 2**20
_DISTANCE_PART = re.compile(r"\d+(?:[.,]\d+)?\s*(?:km|mi|m)\s+away", re.IGNORECASE)


class FeedEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One matched event as the feed shows it; nothing here is about the user."""

    event_id: int
    title: str
    starts_at: datetime  # local wall-clock time in `timezone`, naive
    ends_at: datetime
    timezone: str  # IANA name
    updated_at: datetime  # aware; DTSTAMP and LAST-MODIFIED, so never "now"
    description: str = ""
    explanation: str = ""  # the match explanation without the distance
    recurrence: str | None = None  # RRULE value, e.g. "FREQ=WEEKLY;BYDAY=TU"
    # Aware: where the series ends in this feed (the window's end or its own), written as
    # a UTC UNTIL in place of the rule's COUNT or UNTIL; None keeps the rule's own end.
    until: datetime | None = None
    exdates: tuple[datetime, ...] = ()  # local naive starts left out by the weekly cap
    status: Literal["scheduled", "cancelled"] = "scheduled"
    sequence: int = 0
    format: Literal["in_person", "online", "hybrid"] = "in_person"
    venue_name: str | None = None
    venue_address: str | None = None
    lat: float | None = None
    lon: float | None = None
    online_url: str | None = None
    # What a newcomer can expect, as sentences (shared.first_visit); a standard feed
    # writes them under "First time?".
    first_time: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        naive = (self.starts_at, self.ends_at, *self.exdates)
        if any(moment.tzinfo is not None for moment in naive):
            raise ValueError("starts_at, ends_at and exdates are local naive datetimes")
        if self.updated_at.tzinfo is None or (self.until and self.until.tzinfo is None):
            raise ValueError("updated_at and until must be timezone-aware")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc

    @property
    def uid(self) -> str:
        return event_uid(self.event_id)


def render_feed(
    entries: Sequence[FeedEntry],
    *,
    public_url: str,
    calendar_name: str = "lowkey",
    refresh_interval: timedelta = REFRESH_INTERVAL,
    discreet: bool = False,
) -> bytes:
    """The whole VCALENDAR for `entries` (none gives a valid empty calendar).

    `public_url` is the API's base; each event links to its public page
    `{public_url}/events/{id}`, and its description ends with the check-in page
    `{public_url}/me/checkin/{id}`. `discreet` (SPEC "Discreet calendars"): every entry is
    titled `calendar_name` and links, as its only description, to the private
    `{public_url}/e/{id}`; its place is the address alone; UIDs, times, rules, status,
    sequence and GEO stay as in the standard feed, so switching keeps entries in place.
    """
    ordered = sorted(entries, key=lambda entry: entry.event_id)
    ids = [entry.event_id for entry in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("each event may appear in a feed only once")

    calendar = Calendar()
    calendar.add("prodid", DISCREET_PRODID if discreet else PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", _Text(calendar_name))
    calendar.add("x-wr-calname", _Text(calendar_name))
    calendar.add("refresh-interval", refresh_interval, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(refresh_interval))
    # Insertion order, not icalendar's alphabetical sort: UID first and
    # DTSTART before DTEND read naturally and stay just as stable.
    head = calendar.to_ical(sorted=False)
    # A component's lines are the same inside its calendar or alone, so the calendar is
    # written around components written (and kept) one by one.
    assert head.endswith(_CALENDAR_END)
    base = public_url.rstrip("/")
    label = calendar_name if discreet else ""
    return b"".join(
        [
            head[: -len(_CALENDAR_END)],
            *(
                _vtimezone_bytes(tzid, first_year, last_year)
                for tzid, (first_year, last_year) in sorted(_zone_years(ordered).items())
            ),
            *(_event_bytes(entry, base, discreet, label) for entry in ordered),
            _CALENDAR_END,
        ]
    )


@lru_cache(maxsize=1024)
def _vtimezone_bytes(tzid: str, first_year: int, last_year: int) -> bytes:
    written: bytes = build_vtimezone(tzid, first_year, last_year).to_ical(sorted=False)
    return written


# One event is shown with the same text to many people, and a feed whose selection moved
# keeps most of its entries: an entry's bytes are made once and kept. Keyed by the whole
# entry (a frozen value), so a kept one is never stale. Bounded in bytes, not in entries:
# an organiser's text may make an entry 200 times larger than usual.
@cached(LRUCache(maxsize=EVENT_BYTES_KEPT, getsizeof=len), lock=threading.Lock(), info=True)
def _event_bytes(entry: FeedEntry, base_url: str, discreet: bool, label: str) -> bytes:
    written: bytes = _render_event(entry, base_url, discreet, label).to_ical(sorted=False)
    return written


def _render_event(
    entry: FeedEntry, base_url: str, discreet: bool = False, label: str = ""
) -> Event:
    stamp = entry.updated_at.astimezone(UTC).replace(microsecond=0)
    cancelled = entry.status == "cancelled"
    event = Event()
    event.add("uid", entry.uid)
    event.add("dtstamp", stamp)
    event.add("last-modified", stamp)
    event.add("sequence", entry.sequence)
    _add_local_time(event, "dtstart", entry.starts_at, entry.timezone)
    _add_local_time(event, "dtend", entry.ends_at, entry.timezone)
    if entry.recurrence:
        event.add("rrule", _ending_at(_rrule(entry.recurrence, ZoneInfo(entry.timezone)), entry))
        for excluded in sorted(set(entry.exdates)):
            # One date per EXDATE line: the form every client reads alike.
            _add_local_time(event, "exdate", excluded, entry.timezone)
    private_link = f"{base_url}/e/{entry.event_id}"
    if discreet:
        event.add("summary", _Text(label))
        event.add("description", _Text(private_link))
        event.add("location", _Text(_address_only(entry)))
    else:
        event.add("summary", _Text(f"Cancelled: {entry.title}" if cancelled else entry.title))
        event.add("description", _Text(_description(entry, base_url)))
        event.add("location", _Text(_location(entry)))
    if entry.lat is not None and entry.lon is not None and entry.format != "online":
        event.add("geo", (entry.lat, entry.lon))
    if discreet:
        event.add("url", private_link)
        event.add("class", "PRIVATE")
    else:
        event.add("url", f"{base_url}/events/{entry.event_id}")
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    # Suggestions never mark the user busy.
    event.add("transp", "TRANSPARENT")
    return event


def _ending_at(rule: vRecur, entry: FeedEntry) -> vRecur:
    """The rule as this feed shows it: ending at `entry.until`, in UTC, when set."""
    if entry.until is not None:
        rule.pop("COUNT", None)
        rule["UNTIL"] = [entry.until.astimezone(UTC).replace(microsecond=0)]
    return rule


def _add_local_time(event: Event, name: str, moment: datetime, tzid: str) -> None:
    """Add a wall-clock time of `tzid`, with its TZID (or as "Z" time in UTC)."""
    moment = moment.replace(microsecond=0)
    if tzid == UTC_TZID:
        # icalendar writes TZID=UTC as a "Z" time on DTSTART but drops it from
        # EXDATE (leaving a floating time); "Z" everywhere needs no VTIMEZONE.
        event.add(name, moment.replace(tzinfo=UTC))
    else:
        event.add(name, moment, parameters={"TZID": tzid})


def _rrule(recurrence: str, zone: ZoneInfo) -> vRecur:
    """The series rule with UNTIL in UTC, as RFC 5545 requires beside a TZID (the
    recurrence gate reads every UNTIL form; a local or date-only one is local time)."""
    return vRecur.from_ical(with_utc_until(recurrence.strip().removeprefix("RRULE:"), zone))


def checkin_link(base_url: str, event_id: int) -> str:
    """The page where its person says how an occurrence went (signed in there)."""
    return f"{base_url}/me/checkin/{event_id}"


def _description(entry: FeedEntry, base_url: str) -> str:
    parts = []
    if entry.status == "cancelled":
        parts.append("This event has been cancelled.")
    if entry.description.strip():
        parts.append(entry.description.strip())
    if entry.first_time:
        parts.append(FIRST_TIME_HEADING + "\n" + " ".join(entry.first_time))
    explanation = _without_distance(entry.explanation)
    if explanation:
        parts.append(WHY_PREFIX + explanation)
    if entry.online_url and entry.format != "in_person":
        parts.append(f"Join online: {entry.online_url}")
    parts.append(CHECKIN_PREFIX + checkin_link(base_url, entry.event_id))
    return "\n\n".join(parts)


def _without_distance(explanation: str) -> str:
    parts = [part.strip() for part in explanation.split("·")]
    return " · ".join(part for part in parts if part and not _DISTANCE_PART.search(part))


def _address_only(entry: FeedEntry) -> str:
    """A discreet entry's place: the address without the venue's name (which could say
    what the event is)."""
    if entry.format == "online":
        return "Online"
    address = (entry.venue_address or "").strip()
    if entry.format == "hybrid":
        return f"{address} (or online)" if address else "Online"
    return address


def _location(entry: FeedEntry) -> str:
    if entry.format == "online":
        return "Online"
    place = ", ".join(part.strip() for part in (entry.venue_name, entry.venue_address) if part)
    if entry.format == "hybrid":
        return f"{place} (or online)" if place else "Online"
    return place


def _zone_years(entries: Iterable[FeedEntry]) -> dict[str, tuple[int, int]]:
    """Per TZID, the years its VTIMEZONE must describe exactly."""
    years: dict[str, tuple[int, int]] = {}
    for entry in entries:
        if entry.timezone == UTC_TZID:
            continue
        moments = [entry.starts_at, entry.ends_at, *entry.exdates]
        # A year early: parsers that read a VTIMEZONE literally (dateutil)
        # misjudge instants before its first observance.
        first = min(m.year for m in moments) - 1
        last = max(m.year for m in moments) + _ZONE_YEARS_AHEAD
        if entry.until is not None:
            last = max(last, entry.until.year + 1)
        elif entry.recurrence:
            until = vRecur.from_ical(entry.recurrence.removeprefix("RRULE:")).get("UNTIL")
            if until:
                last = max(last, until[0].year + 1)
        known = years.get(entry.timezone)
        if known:
            first, last = min(first, known[0]), max(last, known[1])
        years[entry.timezone] = (first, last)
    return years
