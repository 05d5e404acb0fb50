"""`lowkey up --demo`: the demo city goes only into an empty database, and what it prints
works against the API (the user's token has matches) and the feed."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlparse

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from shared.demo import EVENTS, PROFILES, load_demo
from shared.settings import Settings
from tests.factories import bearer, event_body


def printed(block: str, label: str) -> str:
    line = next(line for line in block.splitlines() if line.strip().startswith(label))
    return line.split(":", 1)[1].strip()


async def test_demo_loads_once_into_an_empty_database(
    api: AsyncTestClient[Any],
    feed: AsyncTestClient[Any],
    settings: Settings,
    pool: asyncpg.Pool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    block = await load_demo(settings)
    assert block is not None
    assert await pool.fetchval("SELECT count(*) FROM events") == EVENTS
    assert await pool.fetchval("SELECT count(*) FROM profiles") == PROFILES + 1
    assert await pool.fetchval("SELECT count(DISTINCT intensity) FROM events") >= 3
    assert await pool.fetchval("SELECT count(*) FROM events WHERE recurrence IS NOT NULL") > 50
    assert await pool.fetchval("SELECT count(*) FROM events WHERE format <> 'in_person'") > 10

    token = printed(block, "demo user token")
    page = await api.get("/v1/me/matches", headers=bearer(token))
    assert page.status_code == 200 and len(page.json()["items"]) >= 1
    last_part = page.json()["items"][0]["explanation"].rsplit(" · ", 1)[1]
    assert last_part == "free" or last_part.startswith("£")  # Leeds: costs in GBP

    me = await api.get("/v1/me", headers=bearer(token))
    assert me.json()["feed_url"] == printed(block, "demo user's feed")
    calendar = await feed.get(urlparse(printed(block, "demo user's feed")).path)
    assert calendar.status_code == 200 and b"BEGIN:VEVENT" in calendar.content
    assert printed(block, "admin console") == f"{settings.public_url}/admin"

    key = printed(block, "demo organiser key")
    posted = await api.post("/v1/events", json=event_body(), headers=bearer(key))
    assert posted.status_code == 201

    matches_before = await pool.fetchval("SELECT count(*) FROM matches")
    with caplog.at_level(logging.WARNING, logger="lowkey.demo"):
        assert await load_demo(settings) is None
    assert "demo skipped: database holds data" in caplog.text
    assert await pool.fetchval("SELECT count(*) FROM profiles") == PROFILES + 1
    assert await pool.fetchval("SELECT count(*) FROM matches") == matches_before


async def test_demo_never_goes_into_a_database_with_a_profile(
    api: AsyncTestClient[Any], settings: Settings, pool: asyncpg.Pool
) -> None:
    created = await api.post(
        "/v1/profiles",
        json={"home": {"lat": 53.8, "lon": -1.55}, "radius_km": 3, "comfort_level": 2},
    )
    assert created.status_code == 201
    assert await load_demo(settings) is None
    assert await pool.fetchval("SELECT count(*) FROM events") == 0
