"""An event row saved before the bounds existed (inserted straight into `events`) whose
rule the gate now refuses: it is over. Never matched by the per-pair or the bulk scorer,
never in a feed, `next_starts_at` null, logged once; its score job finishes at once and
the feed of a user matched to it before still renders."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import asyncpg
import icalendar
import msgspec
import pytest
from arq.connections import ArqRedis
from litestar.testing import AsyncTestClient

from services.worker import cron, jobs
from shared.bulk_scoring import score_all
from shared.db.matches import upsert_pairs
from shared.db.outbox import add_outbox
from shared.occurrences import is_over
from shared.queue import connect_queue
from shared.scoring import PairScore, ScoringEvent, ScoringProfile, score_pair
from shared.settings import Settings
from tests.factories import create_organiser, post_event
from tests.weighing import parts_scoring

Client = AsyncTestClient[Any]
NOW = datetime.now(UTC)
# Rules dateutil loops on, fails on or floods with; each was accepted before the gate.
OLD_RULES = [
    "FREQ=DAILY;INTERVAL=0",
    "FREQ=DAILY;INTERVAL=-1",
    "FREQ=DAILY;INTERVAL=99999999999999999999",
    "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=MONTHLY;BYDAY=+99SA",
    "FREQ=YEARLY;BYDAY=+60SU",
]
# Each test stores its rows with a start of its own minute, so the gate's per-day cache
# (keyed by the event's data) sees them fresh and logs them.
_minutes = itertools.count(1)


def future_start() -> datetime:
    return datetime(2030, 12, 3, 19) + timedelta(minutes=next(_minutes))


async def insert_old_event(conn: asyncpg.Connection, recurrence: str, **cols: Any) -> int:
    """An event row as the old API stored it: no end (over_at NULL), the rule unchecked."""
    start = cols.pop("starts_at", future_start())
    organiser = await conn.fetchval("SELECT id FROM organisers ORDER BY id LIMIT 1")
    if organiser is None:
        organiser = await conn.fetchval(
            "INSERT INTO organisers (name, contact_email, key_hash)"
            " VALUES ('old', 'old@example.org', '\\x01') RETURNING id"
        )
    values: dict[str, Any] = {
        "organiser_id": organiser,
        "title": "Board games, old rule",
        "starts_at": start,
        "ends_at": start + timedelta(hours=2),
        "timezone": "Europe/Berlin",
        "starts_at_utc": start.replace(tzinfo=UTC) - timedelta(hours=1),
        "ends_at_utc": start.replace(tzinfo=UTC) + timedelta(hours=1),
        "recurrence": recurrence,
        "over_at": None,
        "format": "in_person",
        "lat": 52.5145,
        "lon": 13.4016,
        "tags": ["board-games"],
        "group_size": 8,
        "structure": "structured",
        "noise": "quiet",
        "talking_optional": True,
        "newcomer_support": True,
        "intensity": 1,
        **cols,
    }
    names = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    event_id: int = await conn.fetchval(
        f"INSERT INTO events ({names}) VALUES ({params}) RETURNING id",
        *values.values(),
    )
    return event_id


def pair(event_id: int) -> PairScore:
    return parts_scoring(
        event_id, 0.8, "board games · small, structured group, newcomers welcomed · free"
    )


def refusals(caplog: pytest.LogCaptureFixture, event_id: int) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.getMessage().startswith("stored event breaks the event rules")
        and getattr(r, "event_id", None) == event_id
    ]


@pytest.fixture
async def ctx(
    settings: Settings, pool: asyncpg.Pool, db_clean: None
) -> AsyncIterator[dict[str, Any]]:
    queue: ArqRedis = connect_queue(settings)
    yield {"pool": pool, "settings": settings, "redis": queue}
    await queue.aclose()


@pytest.mark.parametrize("rule", OLD_RULES)
async def test_the_score_job_finishes_at_once_and_drops_the_old_matches(
    ctx: dict[str, Any], pool: asyncpg.Pool, rule: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with pool.acquire() as conn:
        profile = await conn.fetchval(
            "INSERT INTO profiles (token_hash, feed_token_hash, feed_token_sealed, home_lat,"
            " home_lon, radius_km, comfort_level, interests, timezone) VALUES"
            " ('\\x02', '\\x03', '\\x00', 52.52, 13.40, 5, 3, '{\"board-games\": 0.8}',"
            " 'Europe/Berlin') RETURNING id"
        )
        event = await insert_old_event(conn, rule)
        await upsert_pairs(conn, [(profile, pair(event))])  # matched before
        box = await add_outbox(conn, "event", event)
        profile_box = await add_outbox(conn, "profile", profile)
    caplog.set_level(logging.WARNING, logger="lowkey.timeutil")
    async with asyncio.timeout(2):
        assert await jobs.score_event(ctx, box, event) == 0
        assert await jobs.score_profile(ctx, profile_box, profile) == 0
        assert await jobs.score_event(ctx, box, event) == 0
    assert await pool.fetchval("SELECT count(*) FROM matches") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE done_at IS NULL") == 0
    logged = refusals(caplog, event)
    assert len(logged) == 1  # once, however often it is met
    assert logged[0].__dict__["field"] == "recurrence"
    # The event's own data only: nothing about the profile that was matched to it.
    text = logged[0].getMessage() + " " + str(logged[0].__dict__.get("reason"))
    assert "52.52" not in text and "comfort" not in text


@pytest.mark.parametrize("rule", OLD_RULES)
def test_neither_scorer_matches_it(rule: str) -> None:
    event = ScoringEvent(
        id=7,
        format="in_person",
        lat=52.5145,
        lon=13.4016,
        tags=("board-games",),
        intensity=1,
        group_size=8,
        structure="structured",
        noise="quiet",
        talking_optional=True,
        newcomer_support=True,
        starts_at=future_start(),
        ends_at=future_start() + timedelta(hours=2),
        timezone="Europe/Berlin",
        recurrence=rule,
    )
    ok = msgspec.structs.replace(event, id=8, recurrence=None)
    profile = ScoringProfile(
        id=1,
        home_lat=52.52,
        home_lon=13.40,
        radius_km=5,
        interests={"board-games": 0.8},
        comfort_level=3,
    )
    assert is_over(event, NOW) and not is_over(ok, NOW)
    assert score_pair(profile, event, 0.6, now=NOW) is None
    assert score_pair(profile, ok, 0.6, now=NOW) is not None
    bulk = score_all([event, ok], [profile], now=NOW)
    assert bulk.event_id.tolist() == [8]


async def test_the_api_shows_it_with_no_next_start(api: Client, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        event = await insert_old_event(conn, "FREQ=DAILY;INTERVAL=0")
    async with asyncio.timeout(1):
        response = await api.get(f"/v1/events/{event}")
    assert response.status_code == 200
    assert response.json()["next_starts_at"] is None
    assert response.json()["next_starts_at_utc"] is None


async def test_a_feed_matched_to_it_before_still_renders_without_it(
    api: Client, feed: Client, pool: asyncpg.Pool, admin_headers: dict[str, str]
) -> None:
    _, key = await create_organiser(api, admin_headers)
    soon = datetime.now(UTC).date() + timedelta(days=2)
    good = await post_event(
        api,
        key,
        starts_at=f"{soon.isoformat()}T19:00:00",
        ends_at=f"{soon.isoformat()}T21:00:00",
    )
    created = await api.post(
        "/v1/profiles",
        json={
            "home": {"lat": 52.52, "lon": 13.40},
            "radius_km": 5,
            "interests": {"board-games": 0.8},
            "comfort_level": 3,
            "timezone": "Europe/Berlin",
        },
    )
    assert created.status_code == 201, created.text
    profile = created.json()
    flood = "FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=0,15,30,45"
    async with pool.acquire() as conn:
        old = [
            await insert_old_event(
                conn, rule, starts_at=datetime.combine(soon, datetime.min.time())
            )
            for rule in [*OLD_RULES, flood]
        ]
        await upsert_pairs(conn, [(profile["id"], pair(e)) for e in [good["id"], *old]])
    async with asyncio.timeout(2):
        response = await feed.get(urlparse(profile["feed_url"]).path)
    assert response.status_code == 200, response.text
    calendar = icalendar.Calendar.from_ical(response.content)
    uids = [str(e["UID"]) for e in calendar.walk("VEVENT")]
    assert uids == [f"event-{good['id']}@lowkey"]
    assert b"EXDATE" not in response.content and len(response.content) < 20_000


async def test_the_worker_marks_them_over_so_search_and_match_lists_leave_them_out(
    api: Client, ctx: dict[str, Any], pool: asyncpg.Pool, admin_headers: dict[str, str]
) -> None:
    _, key = await create_organiser(api, admin_headers)
    good = await post_event(
        api, key, starts_at="2030-12-03T19:00:00", ends_at="2030-12-03T21:00:00"
    )
    async with pool.acquire() as conn:
        old = [await insert_old_event(conn, rule) for rule in OLD_RULES]
    window = {"from": "2030-12-01T00:00:00Z", "to": "2030-12-31T00:00:00Z"}

    async def listed() -> set[int]:
        response = await api.get("/v1/events", params=window)
        assert response.status_code == 200, response.text
        return {e["id"] for e in response.json()["items"]}

    assert await listed() == {good["id"], *old}  # before: only `over_at` is filtered on
    assert await cron.close_refused_events(ctx) == len(OLD_RULES)
    assert await listed() == {good["id"]}
    over = await pool.fetch("SELECT id FROM events WHERE over_at <= now() ORDER BY id")
    assert [r["id"] for r in over] == sorted(old)
    # Each one's score job is queued (it drops whatever matched it), once.
    boxes = await pool.fetch("SELECT subject_id FROM outbox WHERE kind = 'event' ORDER BY id")
    assert [r["subject_id"] for r in boxes][-len(old) :] == old
    assert await cron.close_refused_events(ctx) == 0
