"""/me's suggestions are the feed's: shared.suggestions against the feed's own render of
the same rows, read back by icalendar + recurring-ical-events, across a DST change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import msgspec
import recurring_ical_events

from services.feed.render import build_feed
from shared.db.feeds import FeedRow
from shared.occurrences import availability_from_wire, feed_window
from shared.suggestions import weekly_suggestions

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2030, 3, 13, 12, 0, tzinfo=BERLIN)  # a Wednesday; DST begins on 31 March
EVENINGS = [{"days": ["tue", "wed", "thu", "sat"], "from": "17:00", "to": "24:00"}]


def row(event_id: int, score: float, starts: datetime, **extra: Any) -> FeedRow:
    ends = starts + timedelta(hours=2)
    fields: dict[str, Any] = {
        "event_id": event_id,
        "score": score,
        "explanation": "board games · small, structured group · free",
        "title": f"Event {event_id}",
        "description": "",
        "starts_at": starts,
        "ends_at": ends,
        "timezone": "Europe/Berlin",
        "recurrence": None,
        "over_at": ends.replace(tzinfo=BERLIN).astimezone(UTC),
        "status": "scheduled",
        "sequence": 0,
        "updated_at": datetime(2030, 1, 1, tzinfo=UTC),
        "format": "in_person",
        "venue_name": "Library",
        "venue_address": "Main Street 1",
        "lat": 52.5,
        "lon": 13.4,
        "online_url": None,
        "tags": ["board-games"],
        "intensity": 2,
        "group_size": 8,
        "structure": "structured",
        "noise": "quiet",
        "talking_optional": True,
        "newcomer_support": True,
    }
    fields.update(extra)
    return FeedRow(**fields)


ROWS = [
    row(1, 0.9, datetime(2030, 2, 26, 19), recurrence="FREQ=WEEKLY;BYDAY=TU", over_at=None),
    row(2, 0.8, datetime(2030, 3, 14, 19)),  # this Thursday
    row(3, 0.7, datetime(2030, 3, 20, 18)),  # next Wednesday
    row(4, 0.6, datetime(2030, 3, 2, 10), recurrence="FREQ=WEEKLY;BYDAY=SA", over_at=None),
    row(5, 0.5, datetime(2030, 3, 16, 20), recurrence="FREQ=DAILY;COUNT=20"),
    row(6, 0.95, datetime(2030, 3, 12, 19)),  # yesterday: over, keeps its slot in the feed
]


def feed_occurrences(max_events_per_week: int, hidden: set[int]) -> set[tuple[int, datetime]]:
    window = feed_window("Europe/Berlin", NOW)
    ics = build_feed(
        [r for r in ROWS if r.event_id not in hidden],
        timezone="Europe/Berlin",
        max_events_per_week=max_events_per_week,
        availability=msgspec.json.encode(EVENINGS).decode(),
        week=window.start.date(),
        public_url="https://lowkey.example",
    )
    calendar = icalendar.Calendar.from_ical(ics)
    found = set()
    for occurrence in recurring_ical_events.of(calendar).between(window.start, window.end):
        start, end = occurrence["DTSTART"].dt, occurrence["DTEND"].dt
        if end > NOW:
            event_id = int(str(occurrence["UID"]).removeprefix("event-").split("@")[0])
            found.add((event_id, start.astimezone(UTC)))
    return found


def page_occurrences(max_events_per_week: int, hidden: set[int]) -> set[tuple[int, datetime]]:
    weeks = weekly_suggestions(
        ROWS,
        timezone="Europe/Berlin",
        max_events_per_week=max_events_per_week,
        availability=availability_from_wire(EVENINGS),
        now=NOW,
        hidden=hidden,
    )
    return {(s.row.event_id, s.starts.astimezone(UTC)) for w in weeks for s in w.suggestions}


def test_suggestions_are_the_occurrences_the_feed_shows() -> None:
    for cap in (1, 2, 3):
        for hidden in (set(), {1}, {2, 6}):
            shown = page_occurrences(cap, hidden)
            assert shown == feed_occurrences(cap, hidden), (cap, hidden)
            assert shown, "the case is not empty"


def test_suggestions_keep_local_time_across_dst_and_are_grouped_by_week() -> None:
    weeks = weekly_suggestions(
        ROWS,
        timezone="Europe/Berlin",
        max_events_per_week=2,
        availability=availability_from_wire(EVENINGS),
        now=NOW,
    )
    tuesdays = [s.starts for w in weeks for s in w.suggestions if s.row.event_id == 1]
    assert {t.hour for t in tuesdays} == {19} and len(tuesdays) >= 10
    assert all(w.monday.weekday() == 0 for w in weeks)
    assert [w.monday for w in weeks] == sorted(w.monday for w in weeks)
    for week in weeks:
        assert len({s.row.event_id for s in week.suggestions}) <= 2
    assert all(s.row.event_id != 4 for w in weeks for s in w.suggestions), "Saturday 10:00"
