"""One event alone as an iCalendar file (the event page's download): pure, Structs in,
RFC 5545 bytes out, with the same UID, times and VTIMEZONE form as the personal feeds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, vRecur
from icalendar import Event as VEvent

from shared.explanations import describe_event
from shared.ical_text import IcalText
from shared.models.events import Event
from shared.recurrence import with_utc_until
from shared.scoring import ScoringEvent
from shared.vtimezone import build_vtimezone

PRODID = "-//lowkey//event 1.0//EN"
UTC_TZID = "UTC"
_ZONE_YEARS_AHEAD = 2  # as the feed: exact for the event's years and a margin


def event_uid(event_id: int) -> str:
    """The UID the event has in every personal feed too, so calendars see one event."""
    return f"event-{event_id}@lowkey"


def event_calendar(event: Event, scored: ScoringEvent, *, page_url: str) -> bytes:
    """A VCALENDAR holding `event` (and its series rule), linking to its page."""
    starts = datetime.fromisoformat(event.starts_at)
    ends = datetime.fromisoformat(event.ends_at)
    zone = ZoneInfo(event.timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    until = None
    rule = None
    if event.recurrence:
        rule = vRecur.from_ical(with_utc_until(event.recurrence, zone))
        if rule.get("UNTIL"):
            until = rule["UNTIL"][0]
    if event.timezone != UTC_TZID:
        last = max(ends.year, until.year if until else ends.year) + _ZONE_YEARS_AHEAD
        calendar.add_component(build_vtimezone(event.timezone, starts.year - 1, last))
    cancelled = event.status == "cancelled"
    stamp = event.updated_at.astimezone(UTC).replace(microsecond=0)
    entry = VEvent()
    entry.add("uid", event_uid(event.id))
    entry.add("dtstamp", stamp)
    entry.add("last-modified", stamp)
    entry.add("sequence", event.sequence)
    _add_local(entry, "dtstart", starts, event.timezone)
    _add_local(entry, "dtend", ends, event.timezone)
    if rule is not None:
        entry.add("rrule", rule)
    entry.add("summary", IcalText(f"Cancelled: {event.title}" if cancelled else event.title))
    entry.add("description", IcalText(_description(event, scored, page_url)))
    entry.add("location", IcalText(_location(event)))
    venue = event.venue
    if venue and venue.lat is not None and venue.lon is not None and event.format != "online":
        entry.add("geo", (venue.lat, venue.lon))
    entry.add("url", page_url)
    entry.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar.add_component(entry)
    return calendar.to_ical(sorted=False)


def _add_local(entry: VEvent, name: str, moment: datetime, tzid: str) -> None:
    moment = moment.replace(microsecond=0)
    if tzid == UTC_TZID:
        entry.add(name, moment.replace(tzinfo=UTC))
    else:
        entry.add(name, moment, parameters={"TZID": tzid})


def _description(event: Event, scored: ScoringEvent, page_url: str) -> str:
    parts = []
    if event.status == "cancelled":
        parts.append("This event has been cancelled.")
    if event.description.strip():
        parts.append(event.description.strip())
    parts.append("What it is like: " + describe_event(scored))
    if event.online_url and event.format != "in_person":
        parts.append(f"Join online: {event.online_url}")
    parts.append(f"More about it: {page_url}")
    return "\n\n".join(parts)


def _location(event: Event) -> str:
    if event.format == "online":
        return "Online"
    venue = event.venue
    place = ", ".join(p.strip() for p in (venue.name, venue.address) if p) if venue else ""
    if event.format == "hybrid":
        return f"{place} (or online)" if place else "Online"
    return place
