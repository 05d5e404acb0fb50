"""Event times: local wall-clock times in IANA zones, RRULE checks, when a series is over."""

from __future__ import annotations

from datetime import UTC, datetime

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


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=WEEKLY;BYDAY=TU",
        "FREQ=MONTHLY;BYMONTHDAY=1;INTERVAL=2",
        "FREQ=DAILY;COUNT=10",
        "FREQ=YEARLY;UNTIL=20351231T000000Z",
    ],
)
def test_rrules_accepted(rule: str) -> None:
    assert timeutil.normalise_rrule(rule.lower()) == rule


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=SECONDLY",
        "RRULE:FREQ=WEEKLY",
        "FREQ=WEEKLY;FREQ=DAILY",
        "FREQ=WEEKLY;COUNT=2;UNTIL=20301231",
        "INTERVAL=2",
        "FREQ=WEEKLY;BYDAY=TU\nDTSTART:20301201",
    ],
)
def test_rrules_refused(rule: str) -> None:
    with pytest.raises(ValueError):
        timeutil.normalise_rrule(rule)


def test_weekly_series_keeps_its_wall_clock_across_dst() -> None:
    # Tuesdays 19:00-21:00 from 2030-10-15, 4 times: the last one (Nov 5) is after the change.
    over = timeutil.over_at(
        datetime(2030, 10, 15, 19), datetime(2030, 10, 15, 21), BERLIN, "FREQ=WEEKLY;COUNT=4"
    )
    assert over == datetime(2030, 11, 5, 20, tzinfo=UTC)


def test_floating_until_is_local_and_a_series_without_end_is_never_over() -> None:
    start, end = datetime(2030, 12, 3, 19), datetime(2030, 12, 3, 21)
    assert timeutil.over_at(start, end, BERLIN, "FREQ=WEEKLY;UNTIL=20301217T190000") == datetime(
        2030, 12, 17, 20, tzinfo=UTC
    )
    assert timeutil.over_at(start, end, BERLIN, "FREQ=WEEKLY") is None


def test_too_long_series_is_refused() -> None:
    with pytest.raises(ValueError, match="more than"):
        timeutil.over_at(
            datetime(2030, 1, 1, 9), datetime(2030, 1, 1, 10), BERLIN, "FREQ=DAILY;COUNT=6000"
        )
