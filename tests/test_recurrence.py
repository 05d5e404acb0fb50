"""The recurrence gate: what it refuses (in words), each bound on both sides of its line,
every UNTIL form, and bounded expansion that equals dateutil's on ordinary rules."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from shared import recurrence

NOW = datetime(2026, 12, 2, 17, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = datetime(2027, 1, 5, 19)  # a Tuesday, 19:00


def check(rule: str, start: datetime = TUESDAY, zone: ZoneInfo = BERLIN) -> recurrence.Series:
    return recurrence.check(rule, start, zone, now=NOW)


REFUSED: list[tuple[str, str, datetime, str]] = [
    # (id, rule, starts_at, words the reason says)
    ("interval 0", "FREQ=DAILY;INTERVAL=0", TUESDAY, "INTERVAL must be a whole number from 1"),
    ("interval -1", "FREQ=DAILY;INTERVAL=-1", TUESDAY, "INTERVAL must be a whole number"),
    ("interval 20 digits", "FREQ=DAILY;INTERVAL=99999999999999999999", TUESDAY, "INTERVAL"),
    ("interval 100", "FREQ=WEEKLY;INTERVAL=100", TUESDAY, "from 1 to 99"),
    ("hourly", "FREQ=HOURLY", TUESDAY, "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY"),
    ("no freq", "COUNT=3", TUESDAY, "needs FREQ"),
    ("byhour flood", "FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24))), TUESDAY, "BYHOUR"),
    ("byminute", "FREQ=DAILY;BYMINUTE=0,30", TUESDAY, "BYMINUTE: the time of day"),
    ("bysecond", "FREQ=DAILY;BYSECOND=1", TUESDAY, "BYSECOND"),
    ("bysetpos", "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=1", TUESDAY, "BYSETPOS"),
    # Eight a week needs a second time of day, which only BYHOUR and co. could give.
    ("8 a week", "FREQ=DAILY;BYHOUR=9,19", TUESDAY, "BYHOUR"),
    ("never: 30 February", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", TUESDAY, "first occurrence"),
    ("monthly +99SA", "FREQ=MONTHLY;BYDAY=+99SA", TUESDAY, "a month has at most 5"),
    ("yearly +60SU", "FREQ=YEARLY;BYDAY=+60SU", TUESDAY, "a year has at most 53"),
    ("monthly 6TU", "FREQ=MONTHLY;BYDAY=6TU", TUESDAY, "a month has at most 5"),
    ("weekly numbered day", "FREQ=WEEKLY;BYDAY=1TU", TUESDAY, "needs FREQ=MONTHLY or YEARLY"),
    ("mixed byday", "FREQ=MONTHLY;BYDAY=TU,1WE", TUESDAY, "may not mix"),
    ("bymonthday 32", "FREQ=MONTHLY;BYMONTHDAY=32", TUESDAY, "a month has at most 31 days"),
    ("bymonthday 0", "FREQ=MONTHLY;BYMONTHDAY=0", TUESDAY, "out of range"),
    ("byyearday 367", "FREQ=YEARLY;BYYEARDAY=367", TUESDAY, "a year has at most 366 days"),
    ("byweekno 54", "FREQ=YEARLY;BYWEEKNO=54", TUESDAY, "a year has at most 53 weeks"),
    ("bymonth 13", "FREQ=YEARLY;BYMONTH=13", TUESDAY, "months are 1 to 12"),
    ("byyearday monthly", "FREQ=MONTHLY;BYYEARDAY=5", TUESDAY, "may not have BYYEARDAY"),
    ("bymonthday weekly", "FREQ=WEEKLY;BYMONTHDAY=5", TUESDAY, "may not have BYMONTHDAY"),
    ("unknown part", "FREQ=WEEKLY;BYEASTER=0", TUESDAY, "not a rule part"),
    ("part twice", "FREQ=WEEKLY;FREQ=DAILY", TUESDAY, "names FREQ twice"),
    ("count and until", "FREQ=WEEKLY;COUNT=2;UNTIL=20301231", TUESDAY, "both COUNT and UNTIL"),
    ("count 0", "FREQ=WEEKLY;COUNT=0", TUESDAY, "COUNT must be a whole number"),
    ("dtstart", "FREQ=WEEKLY\nDTSTART:20301201", TUESDAY, "single RRULE value"),
    ("rrule prefix", "RRULE:FREQ=WEEKLY", TUESDAY, "single RRULE value"),
    ("misses its start", "FREQ=WEEKLY;BYDAY=WE", TUESDAY, "first occurrence"),
    ("until garbage", "FREQ=WEEKLY;UNTIL=2027-03-01", TUESDAY, "UNTIL must be a date"),
    ("until not a date", "FREQ=WEEKLY;UNTIL=20271340", TUESDAY, "UNTIL must be a date"),
    ("until before start", "FREQ=WEEKLY;UNTIL=20270104", TUESDAY, "no occurrence"),
    ("until year 9999", "FREQ=WEEKLY;UNTIL=99991231T235959Z", TUESDAY, "runs past 2036-12-02"),
    ("until 10 years + 1 day", "FREQ=DAILY;UNTIL=20361203", TUESDAY, "at most 10 years ahead"),
    ("count past 10 years", "FREQ=WEEKLY;COUNT=600", TUESDAY, "runs past 2036-12-02"),
    ("count too many to check", "FREQ=DAILY;COUNT=8001", TUESDAY, "from 1 to 8000"),
    (
        "too rare to check",
        # Leap days on a Monday: 1988, then 2016; from 2015 back to 1988 is 9 800 days.
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;UNTIL=20150101",
        datetime(1988, 2, 29, 19),
        "occurs too rarely",
    ),
]


@pytest.mark.parametrize(
    "rule, start, words", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refused_rules_say_why(rule: str, start: datetime, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("+", r"\+")):
        check(rule, start)


ACCEPTED: list[tuple[str, str, datetime]] = [
    ("interval 99", "FREQ=WEEKLY;INTERVAL=99", TUESDAY),
    ("7 a week, daily", "FREQ=DAILY", TUESDAY),
    ("7 a week, by day", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU", TUESDAY),
    ("until UTC", "FREQ=WEEKLY;UNTIL=20270301T190000Z", TUESDAY),
    ("until floating", "FREQ=WEEKLY;UNTIL=20270301T190000", TUESDAY),
    ("until a date", "FREQ=WEEKLY;UNTIL=20270301", TUESDAY),
    ("until 10 years ahead", "FREQ=DAILY;UNTIL=20361202", TUESDAY),
    ("until far, but nothing after 10 years", "FREQ=YEARLY;COUNT=1", TUESDAY),
    ("count to 10 years ahead", "FREQ=DAILY;COUNT=3620", TUESDAY),
    ("monthly 5th Saturday", "FREQ=MONTHLY;BYDAY=5SA", datetime(2027, 1, 30, 19)),
    ("monthly last Friday", "FREQ=MONTHLY;BYDAY=-1FR", datetime(2027, 1, 29, 19)),
    ("yearly 53rd Friday", "FREQ=YEARLY;BYDAY=53FR", datetime(2027, 12, 31, 19)),
    ("begun in 1970", "FREQ=WEEKLY", datetime(1970, 1, 6, 19)),
    ("lower case", "freq=weekly;byday=tu", TUESDAY),
]


@pytest.mark.parametrize("rule, start", [a[1:] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_accepted_rules(rule: str, start: datetime) -> None:
    series = check(rule, start)
    assert series.first_start_after(start.replace(tzinfo=BERLIN), inclusive=True) == (
        start.replace(tzinfo=BERLIN)
    )


def test_every_until_form_ends_the_series_at_the_same_occurrence() -> None:
    # The last Monday before 1 March 2027 19:00 Berlin (18:00 UTC) is 22 February.
    monday = datetime(2027, 1, 4, 19)
    for until in ("20270301T175959Z", "20270301T185959", "20270228"):
        series = check(f"FREQ=WEEKLY;UNTIL={until}", monday)
        assert series.last_start() == datetime(2027, 2, 22, 19, tzinfo=BERLIN), until
    for until in ("20270301T180000Z", "20270301T190000", "20270301"):
        series = check(f"FREQ=WEEKLY;UNTIL={until}", monday)
        assert series.last_start() == datetime(2027, 3, 1, 19, tzinfo=BERLIN), until


@pytest.mark.parametrize(
    "rule, utc",
    [
        ("FREQ=WEEKLY;UNTIL=20270301T190000Z", "FREQ=WEEKLY;UNTIL=20270301T190000Z"),
        ("FREQ=WEEKLY;UNTIL=20270301T190000", "FREQ=WEEKLY;UNTIL=20270301T180000Z"),
        ("FREQ=WEEKLY;UNTIL=20270301", "FREQ=WEEKLY;UNTIL=20270301T225959Z"),
        ("FREQ=WEEKLY;COUNT=4", "FREQ=WEEKLY;COUNT=4"),
        # Only UNTIL is read: a stored rule the gate refuses can still be written out.
        ("FREQ=DAILY;INTERVAL=0;UNTIL=20270301", "FREQ=DAILY;INTERVAL=0;UNTIL=20270301T225959Z"),
    ],
)
def test_until_is_rewritten_to_utc_once_and_right(rule: str, utc: str) -> None:
    # The old regex read `...T190000Z` as a date and wrote `UNTIL=20270301T235959ZT190000Z`.
    assert recurrence.with_utc_until(rule, BERLIN) == utc


def test_canonical_text_keeps_parts_in_order_in_upper_case() -> None:
    assert recurrence.normalise(" freq=monthly;bymonthday=1;interval=2 ") == (
        "FREQ=MONTHLY;BYMONTHDAY=1;INTERVAL=2"
    )


# Ordinary rules (and a few unusual ones) from many starts: the same occurrences as dateutil.
ORDINARY = [
    "FREQ=WEEKLY",
    "FREQ=WEEKLY;BYDAY=TU",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
    "FREQ=WEEKLY;INTERVAL=3;WKST=SU;BYDAY=SU,TU",
    "FREQ=WEEKLY;BYMONTH=12;BYDAY=SA,SU",
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
    "FREQ=DAILY;BYMONTH=1,7",
    "FREQ=DAILY;BYMONTHDAY=1,15,-1",
    "FREQ=MONTHLY",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=MONTHLY;BYDAY=1TU",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYDAY=2TU,4TU",
    "FREQ=MONTHLY;BYDAY=TU",
    "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=1",
    "FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13",
    "FREQ=MONTHLY;BYMONTH=3,6,9;BYDAY=1SA",
    "FREQ=YEARLY",
    "FREQ=YEARLY;BYMONTH=6",
    "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
    "FREQ=YEARLY;BYDAY=20MO",
    "FREQ=YEARLY;BYDAY=-1MO",
    "FREQ=YEARLY;BYYEARDAY=100,-1",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
    "FREQ=YEARLY;INTERVAL=2;BYMONTH=1,12;BYDAY=SA",
    "FREQ=YEARLY;BYMONTH=11;BYDAY=TH;BYMONTHDAY=22,23,24,25,26,27,28",
    "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
    "FREQ=YEARLY;BYWEEKNO=10",
    "FREQ=WEEKLY;COUNT=10",
    "FREQ=DAILY;UNTIL=20300101T000000Z",
    "FREQ=MONTHLY;BYDAY=2WE;UNTIL=20290101",
]
ZONES = ["Europe/Berlin", "America/Los_Angeles", "Australia/Sydney", "UTC", "Asia/Tokyo"]


@pytest.mark.parametrize("rule", ORDINARY)
def test_expansion_equals_dateutils_on_ordinary_rules(rule: str) -> None:
    rng = random.Random(rule)
    compared = 0
    for _ in range(10):
        zone = ZoneInfo(rng.choice(ZONES))
        day = datetime(2019, 1, 1) + timedelta(days=rng.randint(0, 3000))
        guess = day.replace(hour=rng.choice([0, 2, 9, 19, 23]), minute=30, tzinfo=zone)
        # dateutil wants UTC UNTIL beside a zoned start.
        utc_rule = recurrence.with_utc_until(rule, zone)
        first = rrulestr(utc_rule, dtstart=guess).after(guess, inc=True)
        if first is None:
            continue
        start = first.replace(tzinfo=None)
        expected_rule = rrulestr(utc_rule, dtstart=first)
        series = recurrence.check(rule, start, zone, now=NOW)
        for _ in range(4):
            after = NOW + timedelta(days=rng.randint(-3000, 3000), hours=rng.randint(0, 23))
            before = after + timedelta(days=rng.choice([1, 7, 84, 400, 1500]))
            expected = [s for s in expected_rule.between(after, before, inc=True) if s < before]
            assert series.starts_between(after, before) == expected, (rule, start, zone, after)
            compared += 1
    assert compared >= 8


def test_week_numbers_are_iso_weeks() -> None:
    # dateutil puts 2 January 2022 in week 53 (2021 had 52 weeks); ISO 8601 says week 52.
    series = check("FREQ=YEARLY;BYWEEKNO=52;BYDAY=SU", datetime(2022, 1, 2, 10))
    starts = series.starts_between(
        datetime(2022, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert [s.date() for s in starts] == [
        date(2022, 1, 2),
        date(2023, 1, 1),
        date(2023, 12, 31),
        date(2024, 12, 29),
    ]
    assert all(s.isocalendar().week == 52 for s in starts)


def test_expansion_jumps_to_the_span_asked_for() -> None:
    # Daily since 1970: the span 56 years on costs a few days' work, not 20 000.
    series = check("FREQ=DAILY", datetime(1970, 1, 1, 9))
    budget = [recurrence.DAY_BUDGET]
    days = list(series._dates_between(NOW, NOW + timedelta(days=7), budget))
    assert len(days) == 7 and recurrence.DAY_BUDGET - budget[0] < 20


def test_expansions_are_capped_in_count_and_span() -> None:
    series = check("FREQ=DAILY", datetime(1970, 1, 1, 9))
    far = NOW + timedelta(days=365 * 40)
    starts = series.starts_between(NOW, far)
    assert len(starts) <= recurrence.MAX_OCCURRENCES
    assert starts[-1] - starts[0] <= recurrence.MAX_SPAN
    assert len(series.starts_between(NOW, far, limit=3)) == 3


@pytest.mark.parametrize(
    "rule, start, upcoming",
    [
        # Valid but rare (leap days on a Monday: 2016, then 2044): beyond what any lookup
        # spans (MAX_SPAN), so no next start is found, after a bounded search.
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", datetime(2016, 2, 29, 19), None),
        # Every 99 years, and then only on a Monday leap day: nothing within the span.
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;INTERVAL=99",
            datetime(2016, 2, 29, 19),
            None,
        ),
        # The next year with an ISO week 53 after 2026 is 2032.
        (
            "FREQ=YEARLY;BYWEEKNO=53;BYDAY=TH",
            datetime(2026, 12, 31, 19),
            datetime(2032, 12, 30, 19, tzinfo=BERLIN),
        ),
    ],
)
def test_rare_rules_finish(rule: str, start: datetime, upcoming: datetime | None) -> None:
    series = check(rule, start)
    after = max(NOW, start.replace(tzinfo=BERLIN)) + timedelta(days=1)
    assert series.first_start_after(after) == upcoming
    assert series.starts_between(after, after + timedelta(days=365)) == []
