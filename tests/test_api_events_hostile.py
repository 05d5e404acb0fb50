"""Hostile and careless event input against the real API: every rule the SPEC bounds, each
side of its line. A refusal is a 422 problem+json naming the field, within 1 s, with
`/healthz` answering meanwhile and nothing stored; what lies inside the bounds is 201."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from tests.factories import bearer, create_organiser, event_body, post_event
from tests.test_api_events import counts, fields, is_problem

BERLIN = ZoneInfo("Europe/Berlin")
Client = AsyncTestClient[Any]


def ten_years_on(days: int = 0) -> date:
    """The local date 10 years from today in Berlin (the events' zone), plus `days`."""
    today = datetime.now(BERLIN).date()
    try:
        on = today.replace(year=today.year + 10)
    except ValueError:  # 29 February
        on = today.replace(year=today.year + 10, day=28)
    return on + timedelta(days=days)


def at(day: date, hour: int) -> str:
    return datetime(day.year, day.month, day.day, hour).isoformat()


def ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


LAST_DAY, DAY_AFTER = ten_years_on(), ten_years_on(1)
YESTERDAY = datetime.now(BERLIN).date() - timedelta(days=1)
A_MONTH_AGO = datetime.now(BERLIN).date() - timedelta(days=30)
EVERY_HOUR = ",".join(map(str, range(24)))
EVERY_MINUTE = ",".join(map(str, range(60)))

HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("interval 0: dateutil never returns", {"recurrence": "FREQ=DAILY;INTERVAL=0"}, "recurrence"),
    ("interval -1", {"recurrence": "FREQ=DAILY;INTERVAL=-1"}, "recurrence"),
    (
        "interval of 20 digits",
        {"recurrence": "FREQ=DAILY;INTERVAL=99999999999999999999"},
        "recurrence",
    ),
    ("interval 100", {"recurrence": "FREQ=WEEKLY;INTERVAL=100"}, "recurrence"),
    (
        "every minute: a flooded feed",
        {"recurrence": f"FREQ=DAILY;BYHOUR={EVERY_HOUR};BYMINUTE={EVERY_MINUTE}"},
        "recurrence",
    ),
    (
        "8 a week",
        {"recurrence": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=9,19"},
        "recurrence",
    ),
    ("bysetpos", {"recurrence": "FREQ=MONTHLY;BYDAY=SU;BYSETPOS=1"}, "recurrence"),
    (
        "30 February: seconds of CPU in dateutil",
        {"recurrence": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"},
        "recurrence",
    ),
    ("monthly +99SA: IndexError", {"recurrence": "FREQ=MONTHLY;BYDAY=+99SA"}, "recurrence"),
    ("yearly +60SU: IndexError", {"recurrence": "FREQ=YEARLY;BYDAY=+60SU"}, "recurrence"),
    ("bymonthday 32", {"recurrence": "FREQ=MONTHLY;BYMONTHDAY=32"}, "recurrence"),
    ("bymonth 13", {"recurrence": "FREQ=YEARLY;BYMONTH=13"}, "recurrence"),
    ("byyearday 367", {"recurrence": "FREQ=YEARLY;BYYEARDAY=367"}, "recurrence"),
    ("byweekno 54", {"recurrence": "FREQ=YEARLY;BYWEEKNO=54"}, "recurrence"),
    (
        "until a day past 10 years",
        {"recurrence": f"FREQ=DAILY;UNTIL={ymd(DAY_AFTER)}"},
        "recurrence",
    ),
    ("until year 9999", {"recurrence": "FREQ=WEEKLY;UNTIL=99991231T235959Z"}, "recurrence"),
    ("count past 10 years", {"recurrence": "FREQ=WEEKLY;COUNT=999"}, "recurrence"),
    ("count huge", {"recurrence": "FREQ=DAILY;COUNT=99999999999999999999"}, "recurrence"),
    (
        "starts in year 9999",
        {"starts_at": "9999-06-01T19:00:00", "ends_at": "9999-06-01T21:00:00"},
        "starts_at",
    ),
    (
        "year 1, yearly",
        {
            "starts_at": "0001-01-01T10:00:00",
            "ends_at": "0001-01-01T12:00:00",
            "recurrence": "FREQ=YEARLY",
        },
        "starts_at",
    ),
    (
        "9999-12-31 22:00 in Los Angeles: OverflowError",
        {
            "starts_at": "9999-12-31T22:00:00",
            "ends_at": "9999-12-31T23:00:00",
            "timezone": "America/Los_Angeles",
        },
        "starts_at",
    ),
    (
        "0001-01-01 00:30 in Tokyo: OverflowError",
        {
            "starts_at": "0001-01-01T00:30:00",
            "ends_at": "0001-01-01T01:30:00",
            "timezone": "Asia/Tokyo",
        },
        "starts_at",
    ),
    (
        "1969",
        {
            "starts_at": "1969-12-31T23:00:00",
            "ends_at": "1969-12-31T23:59:00",
            "recurrence": "FREQ=WEEKLY",
        },
        "starts_at",
    ),
    (
        "ends a day past 10 years",
        {"starts_at": at(LAST_DAY, 20), "ends_at": at(DAY_AFTER, 1)},
        "ends_at",
    ),
    (
        "a one-off already over",
        {"starts_at": at(YESTERDAY, 19), "ends_at": at(YESTERDAY, 21)},
        "ends_at",
    ),
    (
        "a series already over",
        {
            "starts_at": at(A_MONTH_AGO, 19),
            "ends_at": at(A_MONTH_AGO, 21),
            "recurrence": "FREQ=WEEKLY;COUNT=2",
        },
        "recurrence",
    ),
]


@pytest.fixture
async def key(api: Client, admin_headers: dict[str, str]) -> str:
    return (await create_organiser(api, admin_headers))[1]


async def post_while_checking_health(api: Client, body: dict[str, Any], key: str) -> Any:
    """POST the event and, at the same time, GET /healthz; both within 1 s."""
    async with asyncio.timeout(1):
        posted, health = await asyncio.gather(
            api.post("/v1/events", json=body, headers=bearer(key)), api.get("/healthz")
        )
    assert health.status_code == 200
    return posted


@pytest.mark.parametrize("overrides, field", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
async def test_hostile_event_is_422_naming_the_field_fast_and_stores_nothing(
    api: Client, key: str, pool: asyncpg.Pool, overrides: dict[str, Any], field: str
) -> None:
    response = await post_while_checking_health(api, event_body(**overrides), key)
    assert response.status_code == 422, response.text
    assert is_problem(response)
    assert field in fields(response), response.json()
    reason = next(e["reason"] for e in response.json()["errors"] if e["field"] == field)
    assert reason and "Traceback" not in reason and "\\d" not in reason
    assert await counts(pool) == (0, 0)


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("interval 99", {"recurrence": "FREQ=WEEKLY;INTERVAL=99"}),
    ("7 a week", {"recurrence": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU"}),
    ("daily", {"recurrence": "FREQ=DAILY"}),
    ("until 10 years ahead", {"recurrence": f"FREQ=DAILY;UNTIL={ymd(LAST_DAY)}"}),
    ("until in UTC", {"recurrence": "FREQ=WEEKLY;UNTIL=20310301T190000Z"}),
    ("until floating", {"recurrence": "FREQ=WEEKLY;UNTIL=20310301T190000"}),
    ("until a date", {"recurrence": "FREQ=WEEKLY;UNTIL=20310301"}),
    (
        "monthly 5th Sunday",
        {"starts_at": "2030-12-29T19:00:00", "ends_at": "2030-12-29T21:00:00"}
        | {"recurrence": "FREQ=MONTHLY;BYDAY=5SU"},
    ),
    ("ends on the day 10 years ahead", {"starts_at": at(LAST_DAY, 9), "ends_at": at(LAST_DAY, 11)}),
    (
        "a weekly series begun in 1970",
        {"starts_at": "1970-01-06T19:00:00", "ends_at": "1970-01-06T21:00:00"}
        | {"recurrence": "FREQ=WEEKLY"},
    ),
    (
        "a series begun a month ago",
        {"starts_at": at(A_MONTH_AGO, 19), "ends_at": at(A_MONTH_AGO, 21)}
        | {"recurrence": "FREQ=DAILY;COUNT=60"},
    ),
]


@pytest.mark.parametrize("overrides", [a[1] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
async def test_inside_the_bounds_is_201_with_its_next_start(
    api: Client, key: str, overrides: dict[str, Any]
) -> None:
    response = await post_while_checking_health(api, event_body(**overrides), key)
    assert response.status_code == 201, response.text
    event = response.json()
    assert event["next_starts_at"] is not None
    upcoming = datetime.fromisoformat(event["next_starts_at"]).replace(tzinfo=BERLIN)
    assert upcoming + timedelta(hours=2) > datetime.now(BERLIN)
    assert datetime.fromisoformat(event["next_starts_at_utc"]) == upcoming


async def test_a_patch_that_would_leave_the_event_over_is_422(
    api: Client, key: str, pool: asyncpg.Pool
) -> None:
    event = await post_event(api, key)
    url = f"/v1/events/{event['id']}"
    for patch, field in [
        ({"starts_at": at(YESTERDAY, 19), "ends_at": at(YESTERDAY, 21)}, "ends_at"),
        ({"recurrence": "FREQ=DAILY;INTERVAL=0"}, "recurrence"),
        ({"starts_at": "9999-12-31T22:00:00", "ends_at": "9999-12-31T23:00:00"}, "starts_at"),
    ]:
        response = await api.patch(url, json=patch, headers=bearer(key))
        assert response.status_code == 422, (patch, response.text)
        assert field in fields(response)
    assert (await api.get(url)).json() == event
    assert await counts(pool) == (1, 1)


async def test_several_hostile_posts_at_once_leave_healthz_answering(
    api: Client, key: str, pool: asyncpg.Pool
) -> None:
    bodies = [
        event_body(recurrence="FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),
        event_body(recurrence="FREQ=DAILY;INTERVAL=0"),
        # Leap days on a Monday (1988, next 2016): the check's whole budget, then 422.
        event_body(
            starts_at="1988-02-29T19:00:00",
            ends_at="1988-02-29T21:00:00",
            recurrence="FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;UNTIL=20150101",
        ),
    ]
    async with asyncio.timeout(1):
        answers = await asyncio.gather(
            *(api.post("/v1/events", json=b, headers=bearer(key)) for b in bodies * 3),
            api.get("/healthz"),
        )
    assert [a.status_code for a in answers] == [422] * 9 + [200]
    assert await counts(pool) == (0, 0)
