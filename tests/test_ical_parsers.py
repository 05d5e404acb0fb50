"""Feeds read alike by ical.js, icalendar + recurring_ical_events, Home Assistant's ical and
zoneinfo across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import feed_parsers
import pytest
from dateutil.rrule import rrulestr
from feed_parsers import parse_with_ical, parse_with_icaljs, parse_with_python
from test_ical import basic_entries, make_entry, render

pytestmark = pytest.mark.node

WINDOW = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))


def expected_starts(
    start: datetime, zone: str, rule: str, exdates: tuple[datetime, ...]
) -> list[str]:
    """The series' UTC starts computed from the input alone: dateutil on wall-clock time."""
    local_starts = [s for s in rrulestr(rule, dtstart=start) if s not in exdates]
    instants = (s.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC) for s in local_starts)
    return [i.strftime("%Y-%m-%dT%H:%M:%SZ") for i in instants if WINDOW[0] <= i < WINDOW[1]]


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        ("Europe/London", datetime(2026, 1, 6, 19, 0)),
        ("America/New_York", datetime(2026, 1, 6, 18, 30)),
        ("Australia/Sydney", datetime(2026, 1, 6, 10, 0)),  # DST ends in April
        ("Asia/Kolkata", datetime(2026, 1, 6, 18, 0)),
        ("UTC", datetime(2026, 1, 6, 12, 0)),
        ("Asia/Jerusalem", datetime(2026, 1, 6, 19, 0)),  # "Friday on or after the 23rd"
        ("America/Santiago", datetime(2026, 1, 6, 19, 0)),
        ("Africa/Casablanca", datetime(2026, 1, 6, 19, 0)),  # irregular: dated observances
    ],
)
def test_weekly_series_has_the_same_instants_in_every_reader(zone: str, start: datetime) -> None:
    # 60 weeks cross at least three DST changes wherever the zone has them.
    rule = "FREQ=WEEKLY;COUNT=60"
    exdates = (start + timedelta(weeks=10), start + timedelta(weeks=30))
    entry = make_entry(
        timezone=zone,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        recurrence=rule,
        exdates=exdates,
    )
    ics = render([entry])
    expected = expected_starts(start, zone, rule, exdates)
    assert len(expected) == 58

    icaljs = parse_with_icaljs(ics, *WINDOW)
    python = parse_with_python(ics, *WINDOW)
    home_assistant = parse_with_ical(ics, *WINDOW)

    assert icaljs["missing_tzids"] == python["missing_tzids"] == []
    assert icaljs["events"][entry.uid]["occurrences"] == expected
    assert python["events"][entry.uid]["occurrences"] == expected
    assert home_assistant == python


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York", "Australia/Sydney"])
def test_local_until_ends_the_series_on_its_last_local_start(zone: str) -> None:
    start = datetime(2026, 2, 3, 19, 0)
    entry = make_entry(
        timezone=zone,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        recurrence="FREQ=WEEKLY;UNTIL=20261124T190000",
    )
    expected = expected_starts(start, zone, "FREQ=WEEKLY;UNTIL=20261124T190000", ())
    assert len(expected) == 43  # 3 February to 24 November, both included
    ics = render([entry])
    assert parse_with_icaljs(ics, *WINDOW)["events"][entry.uid]["occurrences"] == expected
    assert parse_with_python(ics, *WINDOW)["events"][entry.uid]["occurrences"] == expected


def test_golden_feed_reads_the_same_in_every_reader() -> None:
    ics = render(basic_entries())
    icaljs = parse_with_icaljs(ics, *WINDOW)
    python = parse_with_python(ics, *WINDOW)
    assert icaljs == python == parse_with_ical(ics, *WINDOW)
    assert icaljs["calendar_name"] == "lowkey"
    cancelled = icaljs["events"]["event-7@lowkey"]
    assert (cancelled["status"], cancelled["sequence"]) == ("CANCELLED", 1)
    assert icaljs["events"]["event-12@lowkey"]["occurrences"] == [
        "2026-03-03T19:00:00Z",
        "2026-03-10T19:00:00Z",
        "2026-03-24T19:00:00Z",
        "2026-04-07T18:00:00Z",
        "2026-04-14T18:00:00Z",
        "2026-04-21T18:00:00Z",
        "2026-04-28T18:00:00Z",
        "2026-05-05T18:00:00Z",
        "2026-05-12T18:00:00Z",
        "2026-05-19T18:00:00Z",
    ]  # and none after the window's end, the rule's COUNT=40 notwithstanding


def test_icaljs_reports_a_tzid_without_vtimezone() -> None:
    ics = render([make_entry()]).replace(b"TZID:Europe/London", b"TZID:Europe/Elsewhere")
    assert parse_with_icaljs(ics, *WINDOW)["missing_tzids"] == ["Europe/London"]
    assert parse_with_python(ics, *WINDOW)["missing_tzids"] == ["Europe/London"]


def test_missing_icaljs_skips_locally_but_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_parsers, "icaljs_unavailable_reason", lambda: "no node here")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no node here"):
        feed_parsers.require_icaljs()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required in CI: no node here"):
        feed_parsers.require_icaljs()
