"""The feed's window over a year, on the real database: 52 weekly renders of two users'
feeds, each read by every parser the suite uses (icalendar + recurring-ical-events, Home
Assistant's `ical`, ical.js) and compared with a reference cap computed here from the
events alone (dateutil on local wall-clock time, availability by hand).

What must hold in every render (SPEC "Matching" and "Feeds"): the feed shows the 12
calendar weeks from this Monday in the user's zone, and no week a calendar app can show
(past, inside or beyond the window) holds more than `max_events_per_week` matches, the
best ones; a series starts at its first occurrence shown and ends with a UTC `UNTIL` no
later than the window's end, without `COUNT`; a match that makes the cap in no week, or
a one-off beyond the window, is not in the feed; occurrences outside the user's
availability are `EXDATE`s; this week's occurrences keep their slots after they end, a
cancelled event keeps its; within a week the bytes are the same, and the window moves
on at the week boundary.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import icalendar
import msgspec
import pytest
from dateutil.rrule import rrulestr
from litestar.testing import AsyncTestClient

from services.feed.render import load_feed
from shared.settings import Settings
from tests.factories import bearer, create_organiser, post_event
from tests.feed_parsers import (
    parse_many_with_icaljs,
    parse_with_ical,
    parse_with_python,
    require_icaljs,
)
from tests.test_feed_service import BERLIN, feed_token, match, monday, new_profile

pytestmark = pytest.mark.node

Client = AsyncTestClient[Any]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ONLINE = {"format": "online", "venue": None, "online_url": "https://meet.example/peer-group"}
# The second user's availability: weekday evenings and Saturday daytime (Berlin).
EVENINGS = [
    {"days": ["tue", "wed", "thu"], "from": "18:00", "to": "22:00"},
    {"days": ["sat"], "from": "09:00", "to": "17:00"},
]


class Spec(msgspec.Struct, frozen=True, kw_only=True):
    """One event of the test city: first start (local, naive) and how long, its rule,
    zone, score and whether it gets cancelled."""

    title: str
    starts: datetime
    hours: int = 2
    rule: str | None = None
    timezone: str = "Europe/Berlin"
    score: float
    cancelled: bool = False
    online: bool = False


def first_saturday(day: date) -> date:
    """The first Saturday of `day`'s month."""
    first = day.replace(day=1)
    return first + timedelta(days=(5 - first.weekday()) % 7)


def city(base: date) -> list[Spec]:
    """Series of every rhythm, some begun long ago or ending mid-year, one-offs across the
    year, two cancellations; `base` is this week's Monday."""

    def at(weeks: int, day: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(base + timedelta(weeks=weeks, days=day), time(hour, minute))

    until = (base + timedelta(weeks=20, days=2)).strftime("%Y%m%dT235959")
    specs = [
        Spec(title="Tuesday walk", starts=at(-30, 1, 19), rule="FREQ=WEEKLY;BYDAY=TU", score=0.9),
        Spec(title="Choir", starts=at(-5, 1, 19, 30), rule="FREQ=WEEKLY", score=0.85),
        # Below two better series every Tuesday: never makes a cap of 2.
        Spec(title="Tuesday games", starts=at(1, 1, 18), rule="FREQ=WEEKLY", score=0.6),
        Spec(title="Book club", starts=at(1, 3, 19), rule="FREQ=WEEKLY;INTERVAL=2", score=0.95),
        Spec(
            title="Repair cafe",
            starts=datetime.combine(first_saturday(base - timedelta(weeks=8)), time(10)),
            rule="FREQ=MONTHLY;BYDAY=1SA",
            score=0.97,
            hours=3,
        ),
        Spec(title="Ten mornings", starts=at(6, 2, 7, 30), rule="FREQ=DAILY;COUNT=10", score=0.92),
        Spec(
            title="Language cafe",
            starts=at(2, 2, 18),
            rule=f"FREQ=WEEKLY;BYDAY=WE;UNTIL={until}",
            score=0.88,
        ),
        Spec(title="Swim", starts=at(1, 0, 19), rule="FREQ=WEEKLY;BYDAY=MO,TU", score=0.8, hours=1),
        # Sunday 20:00 in New York is Monday 02:00 in Berlin: the user's next week.
        Spec(
            title="Peer group online",
            starts=at(0, 6, 20) - timedelta(weeks=2),
            rule="FREQ=WEEKLY",
            timezone="America/New_York",
            score=0.93,
            online=True,
        ),
        Spec(
            title="London sketching",
            starts=at(1, 5, 11),
            rule="FREQ=WEEKLY;COUNT=30",
            timezone="Europe/London",
            score=0.75,
        ),
        Spec(title="Friday quiz", starts=at(1, 4, 18), rule="FREQ=WEEKLY", score=0.94),
        Spec(title="Cancelled lecture", starts=at(3, 2, 19), score=0.99, cancelled=True),
    ]
    one_offs = [(2, 4, 0.99), (5, 1, 0.5), (9, 5, 0.96), (14, 3, 0.7), (20, 1, 0.98)]
    one_offs += [(26, 6, 0.91), (33, 2, 0.99), (40, 0, 0.87), (47, 4, 0.95), (51, 3, 0.99)]
    specs += [Spec(title=f"Talk in week {w}", starts=at(w, d, 19), score=s) for w, d, s in one_offs]
    return specs


# --- the reference: the SPEC's cap computed from the events alone ------------------------


def local_starts(spec: Spec, lo: datetime, hi: datetime) -> list[datetime]:
    """Aware starts of `spec`'s occurrences in [lo, hi), expanded on wall-clock time."""
    zone = ZoneInfo(spec.timezone)
    if spec.rule is None:
        starts = [spec.starts]
    else:
        margin = timedelta(days=2)
        lo_local = lo.astimezone(zone).replace(tzinfo=None) - margin
        hi_local = hi.astimezone(zone).replace(tzinfo=None) + margin
        starts = rrulestr(spec.rule, dtstart=spec.starts).between(lo_local, hi_local, inc=True)
    aware = (start.replace(tzinfo=zone) for start in starts)
    return [start for start in aware if lo <= start < hi]


def available(instant: datetime, windows: list[dict[str, Any]]) -> bool:
    if not windows:
        return True
    local = instant.astimezone(BERLIN)
    return any(
        WEEKDAYS[local.weekday()] in w["days"]
        and time.fromisoformat(w["from"]) <= local.time() < time.fromisoformat(w["to"])
        for w in windows
    )


def reference(
    specs: dict[int, Spec], cap: int, windows: list[dict[str, Any]], week0: datetime
) -> set[tuple[int, str]]:
    """(event id, UTC start) of every occurrence the feed at `week0`'s week must show."""
    window_end = datetime.combine(week0.date() + timedelta(weeks=12), time(0), BERLIN)
    candidates: dict[int, dict[int, list[datetime]]] = defaultdict(dict)
    for event_id, spec in specs.items():
        for start in local_starts(spec, week0, window_end):
            if available(start, windows):
                week = (start.astimezone(BERLIN).date() - week0.date()).days // 7
                candidates[week].setdefault(event_id, []).append(start)
    shown: set[tuple[int, str]] = set()
    for in_week in candidates.values():
        best = sorted(in_week, key=lambda event_id: (-specs[event_id].score, event_id))[:cap]
        shown |= {(event_id, utc_text(s)) for event_id in best for s in in_week[event_id]}
    return shown


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def monday_of(moment: datetime) -> datetime:
    day = moment.astimezone(BERLIN).date()
    return datetime.combine(day - timedelta(days=day.weekday()), time(0), BERLIN)


# --- what a feed shows ---------------------------------------------------------------------


def uid_of(event_id: int) -> str:
    return f"event-{event_id}@lowkey"


def event_id_of(uid: str) -> int:
    return int(uid.removeprefix("event-").removesuffix("@lowkey"))


def read_everywhere(renders: list[tuple[bytes, datetime]]) -> list[dict[str, Any]]:
    """Each render (made at the instant beside it) as every parser reads it, far into the
    past and as far ahead as any occurrence may lie: every week a calendar app could
    show. Asserts the parsers agree (ical.js reads them all in one node process)."""
    spans = [(ics, at - timedelta(weeks=80), at + timedelta(days=366 * 11)) for ics, at in renders]
    python = [parse_with_python(*span) for span in spans]
    for reading, span in zip(python, spans, strict=True):
        assert parse_with_ical(*span) == reading, "Home Assistant's ical reads it otherwise"
    assert parse_many_with_icaljs(spans) == python, "ical.js reads it otherwise"
    return python


def check_feed(
    ics: bytes,
    reading: dict[str, Any],
    at: datetime,
    specs: dict[int, Spec],
    cap: int,
    windows: list[dict[str, Any]],
) -> set[tuple[int, str]]:
    """Asserts everything the SPEC says of one render at `at` and what the parsers read
    of it; returns what it shows."""
    week0 = monday_of(at)
    window_end = datetime.combine(week0.date() + timedelta(weeks=12), time(0), BERLIN)
    assert reading["missing_tzids"] == []
    shown = {
        (event_id_of(uid), start)
        for uid, entry in reading["events"].items()
        for start in entry["occurrences"]
    }
    assert shown == reference(specs, cap, windows, week0), f"at {at.isoformat()}"

    per_week: dict[date, set[int]] = defaultdict(set)
    for event_id, start in shown:
        local = datetime.fromisoformat(start).astimezone(BERLIN)
        assert week0 <= local < window_end, (event_id, start)
        per_week[local.date() - timedelta(days=local.weekday())].add(event_id)
    assert max(len(ids) for ids in per_week.values()) == cap
    # Only the "Ten mornings" series (one slot, daily) has several occurrences a week.
    assert all(len(ids) <= cap for ids in per_week.values())

    calendar = icalendar.Calendar.from_ical(ics)
    vevents = {event_id_of(str(v["UID"])): v for v in calendar.walk("VEVENT")}
    # In the feed exactly when something of it is shown: never a VEVENT with no occurrence.
    assert set(vevents) == {event_id for event_id, _ in shown}
    for event_id, vevent in vevents.items():
        first = min(start for e, start in shown if e == event_id)
        assert utc_text(vevent.decoded("DTSTART")) == first
        if specs[event_id].rule is None:
            assert "RRULE" not in vevent
            continue
        rule = vevent["RRULE"]
        assert "COUNT" not in rule
        (until,) = rule["UNTIL"]
        assert until.utcoffset() == timedelta(0) and b"Z" in rule.to_ical()
        assert until < window_end
    return shown


# --- the year ------------------------------------------------------------------------------


async def build_city(
    api: Client, pool: asyncpg.Pool, admin_headers: dict[str, str]
) -> tuple[dict[int, Spec], list[dict[str, Any]]]:
    _, key = await create_organiser(api, admin_headers)
    specs: dict[int, Spec] = {}
    profiles = [
        await new_profile(api, max_events_per_week=2),
        await new_profile(api, max_events_per_week=4, availability=EVENINGS),
    ]
    for spec in city(monday(0)):
        fields: dict[str, Any] = {"title": spec.title, "timezone": spec.timezone}
        fields["starts_at"] = spec.starts.isoformat()
        fields["ends_at"] = (spec.starts + timedelta(hours=spec.hours)).isoformat()
        if spec.rule:
            fields["recurrence"] = spec.rule
        if spec.online:
            fields.update(ONLINE)
        event = await post_event(api, key, **fields)
        assert event["starts_at"] == spec.starts.isoformat()
        specs[event["id"]] = spec
        for profile in profiles:
            await match(pool, profile, event, spec.score)
        if spec.cancelled:
            off = await api.post(f"/v1/events/{event['id']}/cancel", headers=bearer(key))
            assert off.status_code == 200, off.text
    return specs, profiles


def moments_of_the_year() -> list[datetime]:
    """One render a week for 52 weeks, each on another weekday and hour, and the two
    instants either side of a week boundary (Sunday 23:59:59, Monday 00:00:00)."""
    week0 = datetime.combine(monday(0), time(0), BERLIN)
    moments = [
        week0 + timedelta(weeks=k, days=k % 7, hours=(5 * k) % 24, minutes=17) for k in range(52)
    ]
    boundary = datetime.combine(monday(7), time(0), BERLIN)
    return [*moments, boundary - timedelta(seconds=1), boundary]


async def render_at(
    pool: asyncpg.Pool, settings: Settings, profile: dict[str, Any], at: datetime
) -> bytes:
    served = await load_feed(pool, settings, feed_token(profile), now=at)
    assert served is not None and served.body is not None
    return served.body


async def test_a_year_of_feeds_keeps_every_week_within_the_cap(
    api: Client, pool: asyncpg.Pool, settings: Settings, admin_headers: dict[str, str]
) -> None:
    require_icaljs()
    specs, profiles = await build_city(api, pool, admin_headers)
    by_title = {spec.title: event_id for event_id, spec in specs.items()}
    windows = [[], EVENINGS]
    renders = [
        (n, await render_at(pool, settings, profile, at), at)
        for at in moments_of_the_year()
        for n, profile in enumerate(profiles)
    ]
    readings = read_everywhere([(ics, at) for _, ics, at in renders])
    seen: list[set[int]] = [set(), set()]
    for (n, ics, at), reading in zip(renders, readings, strict=True):
        cap = profiles[n]["max_events_per_week"]
        shown = check_feed(ics, reading, at, specs, cap, windows[n])
        seen[n] |= {event_id for event_id, _ in shown}
    # Better series every week: a cap of 2 never reaches "Tuesday games"; a cap of 4
    # does, in the weeks the fortnightly and monthly ones leave free.
    assert by_title["Tuesday games"] not in seen[0]
    assert by_title["Tuesday games"] in seen[1]
    # The cancelled lecture holds its week's slot, and the farthest talk arrives in time.
    assert {by_title["Cancelled lecture"], by_title["Talk in week 51"]} <= seen[0]


async def test_occurrences_outside_availability_are_exdates(
    api: Client, pool: asyncpg.Pool, settings: Settings, admin_headers: dict[str, str]
) -> None:
    specs, profiles = await build_city(api, pool, admin_headers)
    swim = next(event_id for event_id, spec in specs.items() if spec.title == "Swim")
    ics = await render_at(pool, settings, profiles[1], datetime.now(UTC))
    (vevent,) = [
        v for v in icalendar.Calendar.from_ical(ics).walk("VEVENT") if v["UID"] == uid_of(swim)
    ]
    # Mondays and Tuesdays at 19:00; the user is free on Tuesday evenings only: the series
    # starts on its first Tuesday, and every Monday after it is an EXDATE (a Tuesday may be
    # one too, in a week the series misses the cap).
    first_tuesday = datetime.combine(monday(1) + timedelta(days=1), time(19), BERLIN)
    assert vevent.decoded("DTSTART") == first_tuesday
    exdates = vevent.get("EXDATE")
    excluded = {d.dt for x in (exdates if isinstance(exdates, list) else [exdates]) for d in x.dts}
    mondays = {datetime.combine(monday(w), time(19), BERLIN) for w in range(2, 12)}
    assert {d for d in excluded if d.weekday() == 0} == mondays


async def test_a_week_renders_the_same_bytes_and_moves_on_at_its_end(
    api: Client, pool: asyncpg.Pool, settings: Settings, admin_headers: dict[str, str]
) -> None:
    specs, profiles = await build_city(api, pool, admin_headers)
    profile = profiles[0]
    week = datetime.combine(monday(3), time(0), BERLIN)

    async def fresh_render(at: datetime) -> bytes:
        await pool.execute("DELETE FROM feed_renders WHERE profile_id = $1", profile["id"])
        return await render_at(pool, settings, profile, at)

    monday_morning = await fresh_render(week)
    last_second = week + timedelta(days=7) - timedelta(seconds=1)
    for at in (week + timedelta(days=2, hours=13), last_second):
        assert await fresh_render(at) == monday_morning
    # Served from the stored render all week: one key, one Last-Modified.
    stored = await pool.fetchrow(
        "SELECT render_key, last_modified FROM feed_renders WHERE profile_id = $1", profile["id"]
    )
    for at in (week + timedelta(hours=1), week + timedelta(days=5)):
        assert await render_at(pool, settings, profile, at) == monday_morning
        again = await pool.fetchrow(
            "SELECT render_key, last_modified FROM feed_renders WHERE profile_id = $1",
            profile["id"],
        )
        assert again == stored
    next_monday = week + timedelta(days=7)
    next_week = await render_at(pool, settings, profile, next_monday)
    assert next_week != monday_morning
    renders = [(monday_morning, last_second), (next_week, next_monday)]
    for (ics, at), reading in zip(renders, read_everywhere(renders), strict=True):
        check_feed(ics, reading, at, specs, 2, [])
