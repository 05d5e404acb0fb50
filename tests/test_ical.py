"""The feed renderer: exact bytes, RFC 5545 form, and what Python's parsers read back."""

from __future__ import annotations

import os
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import msgspec
import pytest
import recurring_ical_events

from services.feed import ical
from services.feed.ical import FeedEntry, render_feed
from shared.vtimezone import zone_transitions

GOLDEN = Path(__file__).parent / "golden" / "feed_basic.ics"
PUBLIC_URL = "https://lowkey.example"
UPDATED = datetime(2026, 2, 1, 10, 30, 15, 123456, tzinfo=UTC)
WINDOW_UNTIL = datetime(2026, 5, 24, 22, 59, 59, tzinfo=UTC)
ZONES = ("Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC")


def make_entry(**overrides: Any) -> FeedEntry:
    fields: dict[str, Any] = {
        "event_id": 1,
        "title": "Quiet board games",
        "description": "Bring a game or borrow one.",
        "explanation": "board games · small, structured group",
        "starts_at": datetime(2026, 3, 3, 19, 0),
        "ends_at": datetime(2026, 3, 3, 21, 0),
        "timezone": "Europe/London",
        "updated_at": UPDATED,
        "venue_name": "Central Library",
        "venue_address": "1 High Street, London",
        "lat": 51.5072,
        "lon": -0.1276,
    }
    fields.update(overrides)
    return FeedEntry(**fields)


def basic_entries() -> list[FeedEntry]:
    """The golden feed: a capped weekly series ending with the window (23:59:59 on its last
    Sunday, London time), a cancelled online one-off, a hybrid."""
    return [
        make_entry(
            event_id=12,
            recurrence="FREQ=WEEKLY;BYDAY=TU;COUNT=40",
            until=WINDOW_UNTIL,
            exdates=(datetime(2026, 3, 31, 19, 0), datetime(2026, 3, 17, 19, 0)),
            sequence=3,
        ),
        make_entry(
            event_id=7,
            title='Online book club; chapter 3, "Dune"',
            description="We read aloud.\nCameras optional.",
            explanation="books · talking optional · free",
            starts_at=datetime(2026, 4, 2, 18, 30),
            ends_at=datetime(2026, 4, 2, 19, 30),
            timezone="America/New_York",
            format="online",
            venue_name=None,
            venue_address=None,
            lat=None,
            lon=None,
            online_url="https://meet.example/book-club",
            status="cancelled",
            sequence=1,
        ),
        make_entry(
            event_id=9,
            title="Harbour walk 🌊 — café after",
            explanation="walking · newcomers welcomed",
            starts_at=datetime(2026, 10, 4, 9, 0),
            ends_at=datetime(2026, 10, 4, 11, 0),
            timezone="Australia/Sydney",
            format="hybrid",
            venue_name="Circular Quay",
            venue_address="Sydney NSW 2000",
            lat=-33.8614,
            lon=151.2108,
            online_url="https://meet.example/walk",
        ),
    ]


def render(entries: list[FeedEntry], **kwargs: Any) -> bytes:
    return render_feed(entries, public_url=PUBLIC_URL, **kwargs)


def unfolded_lines(ics: bytes) -> list[str]:
    return ics.decode().replace("\r\n ", "").split("\r\n")


def test_basic_feed_matches_the_golden_file() -> None:
    ics = render(basic_entries())
    if os.environ.get("LOWKEY_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(ics)
    assert ics == GOLDEN.read_bytes()


def test_same_matches_give_identical_bytes_whatever_their_order() -> None:
    entries = basic_entries()
    shuffled = entries[:]
    random.Random(4).shuffle(shuffled)
    assert render(entries) == render(shuffled) == render(list(reversed(entries)))


def test_calendar_header_names_lowkey_and_hints_a_refresh() -> None:
    lines = unfolded_lines(render([]))
    assert lines[:2] == ["BEGIN:VCALENDAR", "PRODID:-//lowkey//feed 1.0//EN"]
    for line in (
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "NAME:lowkey",
        "X-WR-CALNAME:lowkey",
        "REFRESH-INTERVAL;VALUE=DURATION:PT4H",
        "X-PUBLISHED-TTL:PT4H",
    ):
        assert line in lines


def test_empty_feed_is_a_valid_calendar_without_events() -> None:
    calendar = icalendar.Calendar.from_ical(render([]))
    assert calendar.walk("VEVENT") == []
    assert calendar.walk("VTIMEZONE") == []
    assert str(calendar["VERSION"]) == "2.0"


def test_every_line_ends_in_crlf_and_fits_75_octets() -> None:
    long_title = "Café crème & ünïcödé tea 🫖🎲🧶 " * 6 + "👩‍👩‍👧‍👦 end"
    ics = render([make_entry(title=long_title, description="ß" * 200)])
    assert ics.endswith(b"\r\n")
    lines = ics.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert all(len(line) <= 75 for line in lines)
    # Folding never splits a UTF-8 sequence: each physical line decodes alone.
    for line in lines:
        line.decode("utf-8")
    summary = icalendar.Calendar.from_ical(ics).walk("VEVENT")[0]["SUMMARY"]
    assert str(summary) == long_title


@pytest.mark.parametrize(
    "text",
    ["a, b; c", "back\\slash", "C:\\New folder", "two\nlines", "crlf\r\nline", "\\n literal"],
)
def test_text_is_escaped_and_reads_back_unchanged(text: str) -> None:
    ics = render([make_entry(title=text, description=text)], calendar_name=f"lowkey {text}")
    calendar = icalendar.Calendar.from_ical(ics)
    event = calendar.walk("VEVENT")[0]
    expected = text.replace("\r\n", "\n")
    assert str(event["SUMMARY"]) == expected
    assert str(event["DESCRIPTION"]).startswith(expected + "\n\n")
    summary_line = next(line for line in unfolded_lines(ics) if line.startswith("SUMMARY:"))
    # Every `,` and `;` in a TEXT value is escaped, and no raw line break survives.
    assert re.search(r"(?<!\\)[,;]", summary_line.removeprefix("SUMMARY:")) is None


def test_calendar_name_is_escaped() -> None:
    lines = unfolded_lines(render([], calendar_name="mine, yours; ours"))
    assert "X-WR-CALNAME:mine\\, yours\\; ours" in lines
    assert "NAME:mine\\, yours\\; ours" in lines


def test_round_trip_through_icalendar_keeps_every_field() -> None:
    calendar = icalendar.Calendar.from_ical(render(basic_entries()))
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert sorted(events) == ["event-12@lowkey", "event-7@lowkey", "event-9@lowkey"]

    series = events["event-12@lowkey"]
    london = ZoneInfo("Europe/London")
    assert series.decoded("DTSTART") == datetime(2026, 3, 3, 19, 0, tzinfo=london)
    assert series.decoded("DTEND") == datetime(2026, 3, 3, 21, 0, tzinfo=london)
    assert series.decoded("DTSTAMP") == UPDATED.replace(microsecond=0)
    assert series.decoded("LAST-MODIFIED") == UPDATED.replace(microsecond=0)
    assert series["SEQUENCE"] == 3
    # The feed's UNTIL, in UTC alongside a TZID, in place of the rule's COUNT.
    assert series["RRULE"]["UNTIL"] == [WINDOW_UNTIL]
    assert "COUNT" not in series["RRULE"]
    assert series["RRULE"]["FREQ"] == ["WEEKLY"]
    assert str(series["LOCATION"]) == "Central Library, 1 High Street, London"
    assert (series["GEO"].latitude, series["GEO"].longitude) == (51.5072, -0.1276)
    assert str(series["URL"]) == f"{PUBLIC_URL}/events/12"
    assert str(series["STATUS"]) == "CONFIRMED"
    assert str(series["TRANSP"]) == "TRANSPARENT"
    assert str(series["DESCRIPTION"]) == (
        "Bring a game or borrow one.\n\n"
        "Why this was suggested: board games · small, structured group\n\n"
        f"Afterwards, say how it went: {PUBLIC_URL}/me/checkin/12"
    )

    online = events["event-7@lowkey"]
    assert str(online["LOCATION"]) == "Online"
    assert "GEO" not in online
    assert "Join online: https://meet.example/book-club" in str(online["DESCRIPTION"])

    hybrid = events["event-9@lowkey"]
    assert str(hybrid["LOCATION"]) == "Circular Quay, Sydney NSW 2000 (or online)"


def test_each_standard_entry_ends_with_its_checkin_link_and_a_discreet_one_has_none() -> None:
    entries = basic_entries()
    standard = icalendar.Calendar.from_ical(
        render_feed(entries, public_url=PUBLIC_URL + "/")  # one slash, whatever the setting
    )
    endings = {
        str(e["UID"]): str(e["DESCRIPTION"]).rsplit("\n\n", 1)[1] for e in standard.walk("VEVENT")
    }
    assert endings == {
        f"event-{n}@lowkey": f"Afterwards, say how it went: {PUBLIC_URL}/me/checkin/{n}"
        for n in (7, 9, 12)
    }
    discreet = render(entries, discreet=True, calendar_name="Plans")
    assert b"checkin" not in discreet.replace(b"\r\n ", b"")
    assert b"say how it went" not in discreet.replace(b"\r\n ", b"")


def test_cancelled_event_says_so() -> None:
    lines = unfolded_lines(render([make_entry(status="cancelled", sequence=4)]))
    assert "STATUS:CANCELLED" in lines
    assert "STATUS:CONFIRMED" not in lines
    assert "SEQUENCE:4" in lines
    assert "SUMMARY:Cancelled: Quiet board games" in lines


def test_dtstamp_comes_from_the_event_never_the_clock() -> None:
    ics = render([make_entry(updated_at=datetime(2026, 2, 1, 11, 30, tzinfo=ZoneInfo("CET")))])
    lines = unfolded_lines(ics)
    assert "DTSTAMP:20260201T103000Z" in lines
    assert "LAST-MODIFIED:20260201T103000Z" in lines


def test_weekly_series_expands_with_its_exdates() -> None:
    entry = make_entry(
        recurrence="FREQ=WEEKLY;BYDAY=TU",
        exdates=(datetime(2026, 3, 17, 19, 0), datetime(2026, 4, 7, 19, 0)),
    )
    calendar = icalendar.Calendar.from_ical(render([entry]))
    starts = [
        e.decoded("DTSTART")
        for e in recurring_ical_events.of(calendar).between(
            datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC)
        )
    ]
    london = ZoneInfo("Europe/London")
    days = [3, 10, 24, 31]
    expected = [datetime(2026, 3, d, 19, 0, tzinfo=london) for d in days]
    expected.append(datetime(2026, 4, 14, 19, 0, tzinfo=london))
    assert sorted(starts) == expected
    # The hour stays 19:00 local across the change to BST on 29 March.
    assert [s.astimezone(UTC).hour for s in sorted(starts)] == [19, 19, 19, 18, 18]


def test_exdates_go_one_per_line_in_the_event_zone() -> None:
    entry = make_entry(
        recurrence="FREQ=WEEKLY;BYDAY=TU",
        exdates=(datetime(2026, 3, 24, 19, 0), datetime(2026, 3, 17, 19, 0)),
    )
    exdates = [line for line in unfolded_lines(render([entry])) if line.startswith("EXDATE")]
    assert exdates == [
        "EXDATE;TZID=Europe/London:20260317T190000",
        "EXDATE;TZID=Europe/London:20260324T190000",
    ]


@pytest.mark.parametrize(
    ("rule", "until"),
    [
        ("FREQ=WEEKLY;UNTIL=20261027T190000", "20261027T190000Z"),  # local, after BST
        ("FREQ=WEEKLY;UNTIL=20260526T190000Z", "20260526T190000Z"),  # already UTC
        ("FREQ=WEEKLY;UNTIL=20260526", "20260526T225959Z"),  # the whole local day
        ("FREQ=WEEKLY;COUNT=5", None),
    ],
)
def test_until_is_written_in_utc(rule: str, until: str | None) -> None:
    lines = unfolded_lines(render([make_entry(recurrence=rule)]))
    rrule = next(line for line in lines if line.startswith("RRULE:FREQ=WEEKLY"))
    if until is None:
        assert "UNTIL" not in rrule
    else:
        assert f"UNTIL={until}" in rrule


@pytest.mark.parametrize(
    "rule",
    ["FREQ=WEEKLY;COUNT=30", "FREQ=WEEKLY;UNTIL=20270101T000000", "FREQ=WEEKLY;UNTIL=20270101"],
)
def test_the_feeds_until_replaces_the_rules_own_end(rule: str) -> None:
    berlin_until = WINDOW_UNTIL.astimezone(ZoneInfo("Europe/Berlin"))
    for until in (WINDOW_UNTIL, berlin_until):
        lines = unfolded_lines(render([make_entry(recurrence=rule, until=until)]))
        assert [line for line in lines if line.startswith("RRULE:FREQ=WEEKLY")] == [
            "RRULE:FREQ=WEEKLY;UNTIL=20260524T225959Z"
        ]


def test_until_must_be_aware() -> None:
    with pytest.raises(ValueError, match="until"):
        make_entry(recurrence="FREQ=WEEKLY", until=datetime(2026, 5, 24, 23, 59, 59))


@pytest.mark.parametrize("zone", ZONES)
def test_every_tzid_has_a_vtimezone(zone: str) -> None:
    entries = [
        make_entry(event_id=1, timezone=zone, recurrence="FREQ=WEEKLY"),
        make_entry(event_id=2, timezone="Europe/London"),
    ]
    ics = render(entries)
    calendar = icalendar.Calendar.from_ical(ics)
    defined = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
    used = set(re.findall(r";TZID=([^:;]+)", ics.decode()))
    assert used == defined == ({zone, "Europe/London"} - {"UTC"})


def test_utc_events_use_utc_times_without_a_tzid() -> None:
    entry = make_entry(
        timezone="UTC", recurrence="FREQ=WEEKLY", exdates=(datetime(2026, 3, 10, 19, 0),)
    )
    lines = unfolded_lines(render([entry]))
    assert "DTSTART:20260303T190000Z" in lines
    assert "DTEND:20260303T210000Z" in lines
    assert "EXDATE:20260310T190000Z" in lines
    assert not any("TZID" in line for line in lines)


@pytest.mark.parametrize(
    "zone",
    [*ZONES[:-1], "Europe/Dublin", "Asia/Jerusalem", "America/Santiago", "Africa/Casablanca"],
)
def test_vtimezone_gives_zoneinfos_offsets(zone: str) -> None:
    """Read the VTIMEZONE alone (not by its name) and compare it with zoneinfo."""
    ics = render([make_entry(timezone=zone, recurrence="FREQ=DAILY")])
    vtimezone = icalendar.Calendar.from_ical(ics).walk("VTIMEZONE")[0]
    described = vtimezone.to_tz(lookup_tzid=False)
    actual = ZoneInfo(zone)
    # Every six hours, plus a second either side of every change.
    samples = [
        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=6 * i) for i in range(4 * 366 * 3)
    ]
    for change in zone_transitions(actual, 2026, 2028):
        samples += [change.at_utc - timedelta(seconds=1), change.at_utc]
    for moment in samples:
        assert moment.astimezone(described).utcoffset() == moment.astimezone(actual).utcoffset(), (
            f"{zone} at {moment}"
        )


def test_vtimezones_use_rules_or_single_dates_never_rdate_lists() -> None:
    zones = [*ZONES, "Africa/Casablanca"]
    entries = [make_entry(event_id=i, timezone=zone) for i, zone in enumerate(zones)]
    lines = unfolded_lines(render(entries))
    rdates = [line for line in lines if line.startswith("RDATE")]
    assert rdates, "Casablanca's irregular changes are written as dated observances"
    assert all("," not in line for line in rdates)
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in lines  # London, spring
    assert "RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=10" in lines  # Sydney, spring


def test_zone_without_dst_has_one_standard_observance() -> None:
    ics = render([make_entry(timezone="Asia/Kolkata")])
    vtimezone = icalendar.Calendar.from_ical(ics).walk("VTIMEZONE")[0]
    assert [c.name for c in vtimezone.subcomponents] == ["STANDARD"]
    assert vtimezone.subcomponents[0]["TZOFFSETTO"].to_ical() == "+0530"


def test_feed_says_nothing_about_distance_even_if_given_one() -> None:
    entry = make_entry(explanation="1.8 km away · board games · free")
    ics = render([entry])
    assert b"km" not in ics
    description = icalendar.Calendar.from_ical(ics).walk("VEVENT")[0]["DESCRIPTION"]
    assert str(description).endswith(
        "Why this was suggested: board games · free\n\n"
        f"Afterwards, say how it went: {PUBLIC_URL}/me/checkin/1"
    )


def test_feed_entry_rejects_what_the_feed_cannot_say() -> None:
    with pytest.raises(ValueError, match="naive"):
        make_entry(starts_at=datetime(2026, 3, 3, 19, tzinfo=UTC))
    with pytest.raises(ValueError, match="aware"):
        make_entry(updated_at=datetime(2026, 2, 1))
    with pytest.raises(ValueError, match="after"):
        make_entry(ends_at=datetime(2026, 3, 3, 18, 0))
    with pytest.raises(ValueError, match="timezone"):
        make_entry(timezone="Mars/Olympus")
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"event_id": 1}, FeedEntry)


def test_an_event_appears_once() -> None:
    with pytest.raises(ValueError, match="once"):
        render([make_entry(), make_entry()])


def test_a_feed_written_piece_by_piece_equals_the_calendar_written_whole() -> None:
    """Components are written (and kept) one by one: the bytes are those icalendar writes
    for the whole calendar, whatever was kept from earlier feeds."""
    for discreet in (False, True):
        entries = basic_entries()
        whole = icalendar.Calendar.from_ical(render(entries, discreet=discreet))
        assert whole.to_ical(sorted=False) == render(entries, discreet=discreet)
        ical._event_bytes.cache_clear()
        ical._vtimezone_bytes.cache_clear()
        fresh = render(entries, discreet=discreet, calendar_name="Appointments")
        kept = render(entries, discreet=discreet, calendar_name="Appointments")
        assert kept == fresh
        assert ical._event_bytes.cache_info().hits == len(entries)
    # What is kept is counted in bytes (its bound, EVENT_BYTES_KEPT, is in bytes).
    ical._event_bytes.cache_clear()
    alone = render([make_entry(description="x" * 4000)])
    event = alone[alone.index(b"BEGIN:VEVENT") : alone.index(b"END:VEVENT\r\n") + 12]
    assert ical._event_bytes.cache_info().currsize == len(event) > 4000
    # An entry kept from one feed is the same entry in another only when equal in full.
    one = render([make_entry(event_id=1, sequence=1)])
    other = render([make_entry(event_id=1, sequence=2)])
    assert b"SEQUENCE:1" in one and b"SEQUENCE:2" in other
    discreet = render([make_entry()], discreet=True, calendar_name="Dentist")
    assert b"SUMMARY:Dentist" in discreet
    assert b"SUMMARY:Plans" in render([make_entry()], discreet=True, calendar_name="Plans")
