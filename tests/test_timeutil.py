"""Event times: local wall-clock times in IANA zones, RRULE checks, when a series is over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import timeutil

BERLIN = timeutil.zone("Europe/Berlin")


def test_gap_and_fold() -> None:
    with pytest.raises(ValueError, match="daylight-saving gap"):
        timeutil.to_utc(datetime(2030, 3, 31, 2, 30), BERLIN)
    assert timeutil.to_utc(datetime(2030, 10, 27, 2, 30), BERLIN) == datetime(
        2030, 10, 27, 0, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "value", ["2030-12-01T19:00:00+01:00", "2030-12-01T19:00:00Z", "2030-12-01T19:00-0500"]
)
def test_offsets_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="without an offset"):
        timeutil.parse_local(value)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "europe/berlin"])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        timeutil.zone(name)


NOW = datetime(2026, 12, 2, 17, tzinfo=UTC)


def over_at(start: datetime, end: datetime, rule: str | None) -> datetime | None:
    return timeutil.schedule(start, end, BERLIN, rule, now=NOW).over_at()


def test_weekly_series_keeps_its_wall_clock_across_dst() -> None:
    # Tuesdays 19:00-21:00 from 2030-10-15, 4 times: the last one (Nov 5) is after the change.
    over = over_at(datetime(2030, 10, 15, 19), datetime(2030, 10, 15, 21), "FREQ=WEEKLY;COUNT=4")
    assert over == datetime(2030, 11, 5, 20, tzinfo=UTC)


def test_floating_until_is_local_and_a_series_without_end_is_never_over() -> None:
    start, end = datetime(2030, 12, 3, 19), datetime(2030, 12, 3, 21)
    assert over_at(start, end, "FREQ=WEEKLY;UNTIL=20301217T190000") == datetime(
        2030, 12, 17, 20, tzinfo=UTC
    )
    assert over_at(start, end, "FREQ=WEEKLY") is None


def test_too_long_series_is_refused() -> None:
    with pytest.raises(ValueError, match="COUNT must be a whole number from 1 to 8000"):
        over_at(datetime(2030, 1, 1, 9), datetime(2030, 1, 1, 10), "FREQ=DAILY;COUNT=9000")
    with pytest.raises(ValueError, match="runs past 2036-12-02"):
        over_at(datetime(2030, 1, 1, 9), datetime(2030, 1, 1, 10), "FREQ=DAILY;COUNT=6000")


@pytest.mark.parametrize(
    "local, zone_name, ok",
    [
        (datetime(1969, 12, 31, 23, 59), "Europe/Berlin", False),
        (datetime(1970, 1, 1, 0, 0), "Europe/Berlin", True),
        (datetime(2036, 12, 2, 23, 59), "Europe/Berlin", True),  # 10 years ahead, that day
        (datetime(2036, 12, 3, 0, 0), "Europe/Berlin", False),
        (datetime(9999, 12, 31, 22, 0), "America/Los_Angeles", False),  # UTC: year 10000
        (datetime(1, 1, 1, 0, 30), "Asia/Tokyo", False),  # UTC: year 0
    ],
)
def test_times_lie_between_1970_and_ten_years_ahead(
    local: datetime, zone_name: str, ok: bool
) -> None:
    tz = timeutil.zone(zone_name)
    if ok:
        timeutil.check_bounds(local, tz, now=NOW)
        return
    with pytest.raises(ValueError, match=r"1970 or later|at most 10 years ahead"):
        timeutil.check_bounds(local, tz, now=NOW)


@pytest.mark.parametrize(
    "local, zone_name",
    [(datetime(9999, 12, 31, 22), "America/Los_Angeles"), (datetime(1, 1, 1, 0, 30), "Asia/Tokyo")],
)
def test_converting_a_time_past_the_calendar_is_a_value_error(
    local: datetime, zone_name: str
) -> None:
    with pytest.raises(ValueError, match="outside the calendar"):
        timeutil.to_utc(local, timeutil.zone(zone_name))


def test_a_stored_event_the_bounds_refuse_is_refused_with_its_field() -> None:
    start, end = datetime(2027, 1, 5, 19), datetime(2027, 1, 5, 21)
    refused = timeutil.stored_schedule(1, start, end, "Europe/Berlin", "FREQ=DAILY;INTERVAL=0", NOW)
    assert refused == timeutil.Refusal("recurrence", "INTERVAL must be a whole number from 1 to 99")
    far = timeutil.stored_schedule(2, datetime(9999, 1, 1), datetime(9999, 1, 2), "UTC", None, NOW)
    assert isinstance(far, timeutil.Refusal) and far.field == "starts_at"
    fine = timeutil.stored_schedule(3, start, end, "Europe/Berlin", "FREQ=WEEKLY", NOW)
    assert isinstance(fine, timeutil.Schedule)
    assert timeutil.next_start(3, start, end, "Europe/Berlin", "FREQ=WEEKLY", NOW) == (
        start.replace(tzinfo=BERLIN)
    )
    assert timeutil.next_start(1, start, end, "Europe/Berlin", "FREQ=DAILY;INTERVAL=0", NOW) is None


def test_next_start_is_the_first_occurrence_not_ended() -> None:
    start, end = datetime(2026, 11, 3, 19), datetime(2026, 11, 3, 21)  # Tuesdays, begun a month ago
    schedule = timeutil.schedule(start, end, BERLIN, "FREQ=WEEKLY", now=NOW)
    # Tuesday 1 December 19:00-21:00 has ended by Wednesday; the next is the 8th.
    assert schedule.next_start(NOW) == datetime(2026, 12, 8, 19, tzinfo=BERLIN)
    during = datetime(2026, 12, 8, 19, 30, tzinfo=BERLIN)
    assert schedule.next_start(during) == datetime(2026, 12, 8, 19, tzinfo=BERLIN)
    one_off = timeutil.schedule(start, end, BERLIN, None, now=NOW)
    assert one_off.next_start(NOW) is None and one_off.over_at() == datetime(
        2026, 11, 3, 20, tzinfo=UTC
    )


def test_a_kept_next_start_holds_until_that_occurrence_ends_and_never_across_a_change() -> None:
    start, end = datetime(2026, 11, 3, 19), datetime(2026, 11, 3, 21)  # Tuesdays
    tuesday = datetime(2026, 12, 8, 19, tzinfo=BERLIN)

    def next_at(moment: datetime, rule: str = "FREQ=WEEKLY") -> datetime | None:
        return timeutil.next_start(41, start, end, "Europe/Berlin", rule, moment)

    assert next_at(NOW) == tuesday
    assert next_at(tuesday + timedelta(hours=1, minutes=59)) == tuesday  # under way
    assert next_at(tuesday + timedelta(hours=2)) == tuesday + timedelta(weeks=1)  # ended
    # Asked about an earlier moment than the one kept: found again, not taken from it.
    assert next_at(datetime(2026, 11, 10, 22, tzinfo=BERLIN)) == datetime(
        2026, 11, 17, 19, tzinfo=BERLIN
    )
    # Another rule for the same event id is another event's schedule.
    assert next_at(NOW, "FREQ=DAILY") == datetime(2026, 12, 2, 19, tzinfo=BERLIN)
