"""`lowkey up --demo`: the demo city goes only into an empty database, what it prints
works against the API (the user's token has matches) and the feed, and every later start
prints its keys again."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import msgspec
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
    with caplog.at_level(logging.INFO, logger="lowkey.demo"):
        block = await load_demo(settings)
    assert block is not None
    # The log and the printed block count the same profiles (the demo user among them).
    loaded = next(r for r in caplog.records if r.getMessage() == "demo city loaded")
    assert loaded.__dict__["profiles"] == PROFILES + 1
    assert f"{EVENTS} events, {PROFILES + 1} profiles" in block
    assert await pool.fetchval("SELECT count(*) FROM events") == EVENTS
    assert await pool.fetchval("SELECT count(*) FROM profiles") == PROFILES + 1
    assert await pool.fetchval("SELECT count(DISTINCT intensity) FROM events") >= 3
    assert await pool.fetchval("SELECT count(*) FROM events WHERE recurrence IS NOT NULL") > 50
    assert await pool.fetchval("SELECT count(*) FROM events WHERE format <> 'in_person'") > 10
    # What to expect and discreet calendars (issue 16) are in the city too.
    assert await pool.fetchval("SELECT count(*) FROM events WHERE first_visit ? 'greeter'") > 20
    assert await pool.fetchval("SELECT count(*) FROM events WHERE first_visit IS NOT NULL") > 80
    discreet = "SELECT count(DISTINCT calendar_label) FROM profiles WHERE feed_style = 'discreet'"
    assert await pool.fetchval(discreet) == 3
    # Support given and sought, and a trusted pair (two rows, one each side).
    assert await pool.fetchval("SELECT count(*) FROM events WHERE support <> '{}'") > 100
    assert await pool.fetchval("SELECT count(*) FROM profiles WHERE seeking <> '{}'") > 500
    assert await pool.fetchval("SELECT count(*) FROM buddies") == 2
    # A series begun two weeks ago, some of whose users said how it went.
    answers = await pool.fetch("SELECT answer, count(*) AS n FROM checkins GROUP BY 1 ORDER BY 1")
    assert {r["answer"] for r in answers} == {"went_fine", "didnt_go", "too_much"}
    assert await pool.fetchval(
        "SELECT count(*) FROM match_occurrences o JOIN checkins c"
        " ON (c.profile_id, c.event_id, c.occurrence) = (o.profile_id, o.event_id, o.starts_at)"
    ) == await pool.fetchval("SELECT count(*) FROM checkins")
    assert await pool.fetchval("SELECT count(*) FROM matches WHERE support >= 0") > 100

    token = printed(block, "demo user token")
    page = await api.get("/v1/me/matches", headers=bearer(token))
    assert page.status_code == 200 and len(page.json()["items"]) >= 1
    last_part = page.json()["items"][0]["explanation"].rsplit(" · ", 1)[1]
    assert last_part == "free" or last_part.startswith("£")  # Leeds: costs in GBP

    me = await api.get("/v1/me", headers=bearer(token))
    assert me.json()["feed_url"] == printed(block, "demo user's feed")
    calendar = await feed.get(urlparse(printed(block, "demo user's feed")).path)
    assert calendar.status_code == 200 and b"BEGIN:VEVENT" in calendar.content
    assert b"First time?" in calendar.content.replace(b"\r\n ", b"")
    assert printed(block, "admin console") == f"{settings.public_url}/admin"

    key = printed(block, "demo organiser key")
    posted = await api.post("/v1/events", json=event_body(), headers=bearer(key))
    assert posted.status_code == 201

    matches_before = await pool.fetchval("SELECT count(*) FROM matches")
    with caplog.at_level(logging.INFO, logger="lowkey.demo"):
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


async def test_every_start_with_demo_shows_its_keys_again_from_the_data_dir(
    api: AsyncTestClient[Any],
    feed: AsyncTestClient[Any],
    settings: Settings,
    pool: asyncpg.Pool,
    admin_headers: dict[str, str],
    tmp_path: Path,
) -> None:
    """The second `make run` finds data in the database, loads nothing, and still prints
    the demo's keys (kept under the data dir's secrets, never in the database in clear)
    with the demo user's current feed."""
    from services.cli import _demo_block

    own = msgspec.structs.replace(settings, data_dir=tmp_path / "data")
    first = await _demo_block(own)
    assert first is not None and first.startswith("lowkey demo city (Leeds) loaded:")
    kept = tmp_path / "data" / "secrets" / "demo_keys.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert (kept.parent.stat().st_mode & 0o777) == 0o700

    again = await _demo_block(own)
    assert again is not None
    assert await pool.fetchval("SELECT count(*) FROM profiles") == PROFILES + 1  # loaded once
    for label in ("demo organiser key", "demo user token", "demo user's feed", "webcal"):
        assert printed(again, label) == printed(first, label), label
    token = printed(again, "demo user token")
    # No key is in the database in clear: only their hashes.
    dump = " ".join(
        str(v) for r in await pool.fetch("SELECT * FROM organisers") for v in r.values()
    ) + " ".join(str(v) for r in await pool.fetch("SELECT * FROM profiles") for v in r.values())
    assert token not in dump and printed(again, "demo organiser key") not in dump

    # The feed shown is the current one: after a rotation, the new address.
    rotated = (await api.post("/v1/me/feed/rotate", headers=bearer(token))).json()
    after = await _demo_block(own)
    assert after is not None and printed(after, "demo user's feed") == rotated["feed_url"]
    calendar = await feed.get(urlparse(printed(after, "demo user's feed")).path)
    assert calendar.status_code == 200

    # A revoked demo organiser's key is no longer shown; an erased demo user's neither.
    organiser_id = await pool.fetchval("SELECT id FROM organisers ORDER BY id LIMIT 1")
    await api.delete(f"/v1/admin/organisers/{organiser_id}", headers=admin_headers)
    block = await _demo_block(own)
    assert block is not None and "demo organiser key" not in block
    assert (await api.delete("/v1/me", headers=bearer(token))).status_code == 204
    assert await _demo_block(own) is None


async def test_kept_demo_keys_of_another_database_are_not_shown(
    api: AsyncTestClient[Any], settings: Settings, tmp_path: Path
) -> None:
    from shared.demo_keys import shown_demo_keys
    from shared.runtime import keep_secret

    created = await api.post(
        "/v1/profiles",
        json={"home": {"lat": 53.8, "lon": -1.55}, "radius_km": 3, "comfort_level": 2},
    )
    assert created.status_code == 201
    own = msgspec.structs.replace(settings, data_dir=tmp_path / "data")
    keep_secret(
        own.data_dir,
        "demo_keys.json",
        '{"organiser_key": "lk_org_elsewhere", "user_token": "lk_usr_elsewhere"}',
    )
    assert await shown_demo_keys(own) is None
