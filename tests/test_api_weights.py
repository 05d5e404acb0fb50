"""Versioned match weights, the preview and the stats, against the real database and Redis."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from shared.demo import score_everything
from shared.http.cursor import encode_cursor
from shared.settings import Settings

DEFAULTS = {
    "distance": 1.0,
    "interest": 1.0,
    "comfort": 1.0,
    "distance_decay_km": 5.0,
    "online_score": 0.6,
    "stretch_penalty": 0.4,
    "min_score": 0.3,
}
CITY = (52.52, 13.405)  # Berlin
TAGS = ("board-games", "walking", "books", "crafts", "volunteering", "music")


async def seed_city(
    pool: asyncpg.Pool,
    *,
    events: int = 24,
    profiles: int = 40,
    seed: int = 7,
    store_pairs: bool = True,
) -> None:
    """A small, varied city straight into the tables: one organiser, events, profiles,
    and (`store_pairs`) every eligible pair, as the worker would store them."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=3)
    async with pool.acquire() as conn, conn.transaction():
        org = await conn.fetchval(
            "INSERT INTO organisers (name, contact_email, key_hash) VALUES ($1, $2, $3)"
            " RETURNING id",
            "Seed organiser",
            "seed@example.org",
            os.urandom(32),
        )
        for i in range(events):
            fmt = "online" if i % 8 == 7 else "hybrid" if i % 5 == 4 else "in_person"
            size = rng.choice((4, 8, 15, 30, 80))
            structure = rng.choice(("structured", "semi", "open"))
            noise = rng.choice(("quiet", "moderate", "loud"))
            talking, newcomers = rng.random() < 0.5, rng.random() < 0.6
            level = {4: 1, 8: 2, 15: 3, 30: 4, 80: 5}[size]
            level += (structure == "open") + (noise == "loud") - talking - newcomers
            begins = start + timedelta(hours=i * 5)
            lat = None if fmt == "online" else CITY[0] + rng.uniform(-0.08, 0.08)
            lon = None if fmt == "online" else CITY[1] + rng.uniform(-0.12, 0.12)
            await conn.execute(
                """INSERT INTO events (organiser_id, title, starts_at, ends_at, timezone,
                    starts_at_utc, ends_at_utc, over_at, format, lat, lon, tags, group_size,
                    structure, noise, talking_optional, newcomer_support, intensity)
                   VALUES ($1, $2, $3, $4, 'UTC', $5, $6, $6, $7, $8, $9, $10, $11, $12, $13,
                    $14, $15, $16)""",
                org,
                f"Event {i + 1}",
                begins.replace(tzinfo=None),
                (begins + timedelta(hours=2)).replace(tzinfo=None),
                begins,
                begins + timedelta(hours=2),
                fmt,
                lat,
                lon,
                rng.sample(TAGS, rng.randint(1, 2)),
                size,
                structure,
                noise,
                talking,
                newcomers,
                max(1, min(5, level)),
            )
        for _ in range(profiles):
            interests = {t: round(rng.uniform(0.2, 1.0), 2) for t in rng.sample(TAGS, 3)}
            await conn.execute(
                """INSERT INTO profiles (token_hash, feed_token_hash, feed_token_sealed,
                    home_lat, home_lon, radius_km, interests, comfort_level, open_to_stretch)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
                os.urandom(32),
                os.urandom(32),
                os.urandom(40),
                round(CITY[0] + rng.uniform(-0.06, 0.06), 3),
                round(CITY[1] + rng.uniform(-0.09, 0.09), 3),
                rng.choice((3.0, 5.0, 8.0, 12.0)),
                interests,
                rng.randint(2, 5),
                rng.random() < 0.5,
            )
        if store_pairs:
            await conn.execute("DELETE FROM matches")
            await score_everything(conn)


async def table_counts(pool: asyncpg.Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM weight_versions) AS versions,
                      (SELECT version FROM active_weights) AS active,
                      (SELECT count(*) FROM outbox) AS outbox,
                      (SELECT count(*) FROM rescore_runs) AS runs,
                      (SELECT count(*) FROM matches) AS matches,
                      (SELECT count(*) FROM profiles) AS profiles,
                      (SELECT count(*) FROM events) AS events"""
        )
    assert row is not None
    return dict(row)


def weights(**changes: float) -> dict[str, float]:
    return {**DEFAULTS, **changes}


async def put_weights(
    api: AsyncTestClient[Any],
    headers: dict[str, str],
    note: str = "tune",
    author: str | None = None,
    **changes: float,
) -> dict[str, Any]:
    body: dict[str, Any] = {**weights(**changes), "note": note}
    if author is not None:
        body["author"] = author
    response = await api.put("/v1/admin/weights", json=body, headers=headers)
    assert response.status_code == 201, response.text
    saved: dict[str, Any] = response.json()
    return saved


async def test_version_one_holds_the_defaults(
    api: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    response = await api.get("/v1/admin/weights", headers=admin_headers)
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 1 and body["active"] is True and body["note"] == "defaults"
    assert {k: body[k] for k in DEFAULTS} == DEFAULTS
    assert body["author"] is None and body["created_at"]


async def test_put_creates_an_active_version_live_at_once_with_no_job(
    api: AsyncTestClient[Any],
    admin_headers: dict[str, str],
    pool: asyncpg.Pool,
    settings: Settings,
    redis_url: str,
) -> None:
    generation = await pool.fetchval("SELECT generation FROM match_generation")
    body = await put_weights(api, admin_headers, "closer events", "Ada", distance=2.0)
    assert body["version"] == 2 and body["active"] is True
    assert body["distance"] == 2.0 and body["note"] == "closer events" and body["author"] == "Ada"

    active = (await api.get("/v1/admin/weights", headers=admin_headers)).json()
    assert active == body
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        assert await conn.fetchval("SELECT count(*) FROM rescore_runs") == 0
        # Every feed's cache key moves on: each renders again at its next poll.
        assert await conn.fetchval("SELECT generation FROM match_generation") == generation + 1
    client = aioredis.from_url(redis_url)
    try:
        assert await client.zcard(settings.queue_name) == 0
    finally:
        await client.aclose()


async def test_history_is_newest_first_and_paged(
    api: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    for n in range(3):
        await put_weights(api, admin_headers, f"step {n}", comfort=1.0 + n)
    first = (await api.get("/v1/admin/weights/history?limit=3", headers=admin_headers)).json()
    assert [v["version"] for v in first["items"]] == [4, 3, 2]
    assert [v["active"] for v in first["items"]] == [True, False, False]
    assert [v["note"] for v in first["items"]] == ["step 2", "step 1", "step 0"]
    assert first["next"]
    rest = await api.get(
        "/v1/admin/weights/history",
        params={"limit": 3, "cursor": first["next"]},
        headers=admin_headers,
    )
    assert [v["version"] for v in rest.json()["items"]] == [1]
    assert rest.json()["next"] is None
    bad = await api.get("/v1/admin/weights/history?cursor=nope", headers=admin_headers)
    assert bad.status_code == 422
    # Another list's cursor is not this list's, though both carry one number.
    foreign = encode_cursor("o", 2)  # what the organisers list hands back after id 2
    refused = await api.get(
        "/v1/admin/weights/history", params={"cursor": foreign}, headers=admin_headers
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "cursor"


async def test_activate_reactivates_without_new_version(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    await put_weights(api, admin_headers, "try", interest=3.0)
    before = await table_counts(pool)
    response = await api.post("/v1/admin/weights/1/activate", headers=admin_headers)
    assert response.status_code == 200
    assert response.json()["version"] == 1 and response.json()["active"] is True
    after = await table_counts(pool)
    assert after["versions"] == before["versions"] == 2
    assert after["active"] == 1
    assert after["outbox"] == before["outbox"] and after["runs"] == before["runs"]
    history = (await api.get("/v1/admin/weights/history", headers=admin_headers)).json()
    assert [(v["version"], v["active"]) for v in history["items"]] == [(2, False), (1, True)]

    # Already active: nothing changes, nothing is queued.
    again = await api.post("/v1/admin/weights/1/activate", headers=admin_headers)
    assert again.status_code == 200
    assert (await table_counts(pool))["outbox"] == after["outbox"]


@pytest.mark.parametrize("version", [99, 0, 2**31, 2**40])
async def test_activate_unknown_version_is_404(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], version: int
) -> None:
    response = await api.post(f"/v1/admin/weights/{version}/activate", headers=admin_headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"distance": -0.1}, "distance"),
        ({"interest": -1}, "interest"),
        ({"comfort": -2}, "comfort"),
        ({"distance_decay_km": 0}, "distance_decay_km"),
        ({"distance_decay_km": -5}, "distance_decay_km"),
        ({"online_score": 1.5}, "online_score"),
        ({"online_score": -0.1}, "online_score"),
        ({"stretch_penalty": 2}, "stretch_penalty"),
        ({"min_score": -0.01}, "min_score"),
        ({"min_score": 1.01}, "min_score"),
        ({"distance": 0, "interest": 0, "comfort": 0}, "distance, interest and comfort"),
        ({"distance": "heavy"}, "distance"),
    ],
)
async def test_bad_weights_are_422_naming_the_field(
    api: AsyncTestClient[Any],
    admin_headers: dict[str, str],
    pool: asyncpg.Pool,
    changes: dict[str, Any],
    field: str,
) -> None:
    before = await table_counts(pool)
    body = {**DEFAULTS, **changes, "note": "bad"}
    response = await api.put("/v1/admin/weights", json=body, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.json()["detail"]
    preview = await api.post(
        "/v1/admin/weights/preview",
        json={"weights": {**DEFAULTS, **changes}},
        headers=admin_headers,
    )
    assert preview.status_code == 422 and field in preview.json()["detail"]
    assert await table_counts(pool) == before


@pytest.mark.parametrize(
    "body",
    [
        {k: v for k, v in {**DEFAULTS, "note": "x"}.items() if k != "min_score"},
        {**DEFAULTS},
        {**DEFAULTS, "note": ""},
        {**DEFAULTS, "note": "   "},
        {**DEFAULTS, "note": "x", "author": ""},
        {**DEFAULTS, "note": "x", "colour": "blue"},
    ],
)
async def test_incomplete_or_unknown_fields_are_422(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], body: dict[str, Any]
) -> None:
    response = await api.put("/v1/admin/weights", json=body, headers=admin_headers)
    assert response.status_code == 422, response.text


async def test_preview_is_deterministic_and_writes_nothing(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    await seed_city(pool)
    before = await table_counts(pool)
    request = {"weights": weights(distance=3.0, min_score=0.6), "sample_size": 25, "seed": 4}
    first = await api.post("/v1/admin/weights/preview", json=request, headers=admin_headers)
    assert first.status_code == 200, first.text
    second = await api.post("/v1/admin/weights/preview", json=request, headers=admin_headers)
    assert first.json() == second.json()
    assert await table_counts(pool) == before

    result = first.json()
    assert result["sample_size"] == 25 and result["seed"] == 4 and result["active_version"] == 1
    assert result["events_considered"] == 24
    assert result["pairs"] > 0
    hist = result["histogram"]
    assert hist["edges"] == [round(i / 10, 1) for i in range(11)]
    assert sum(hist["before"]) == sum(hist["after"]) == result["pairs"]
    assert result["matches_before"] <= result["pairs"]
    # A higher min_score can only remove matches.
    assert result["disappeared"] > 0 and result["appeared"] == 0
    assert result["matches_after"] == result["matches_before"] - result["disappeared"]
    users = result["users"]
    assert [u["sample_index"] for u in users] == list(range(1, 26))
    assert result["users_changed"] == sum(u["changed"] for u in users) > 0
    for user in users:
        assert len(user["before"]) <= 5 and len(user["after"]) <= 5
        for side in ("before", "after"):
            assert [m["rank"] for m in user[side]] == list(range(1, len(user[side]) + 1))
            assert len({m["event_id"] for m in user[side]}) == len(user[side])
        for match in user["after"]:
            assert match["explanation"] and match["title"] and match["next_starts_at"]
            assert match["rank_before"] is not None  # nothing appears when min_score rises
        assert set(user).isdisjoint({"id", "profile_id", "home", "comfort_level"})


# What a preview may say about one sampled user (SPEC "Feeds", last paragraph): an index,
# ranks, the events (ids, titles, next dates) and explanations without distances.
PER_USER_KEYS = {"sample_index", "changed", "before", "after"}
PER_ENTRY_KEYS = {"rank", "rank_before", "event_id", "title", "next_starts_at", "explanation"}
NUMBERS_ALLOWED = {"sample_index", "rank", "rank_before", "event_id"}


def _leaves(value: Any, key: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, k)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item, key)]
    return [(key, value)]


async def test_preview_carries_no_number_per_sampled_user(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    await seed_city(pool, events=24, profiles=40)
    # Weekly series begun 20-odd days ago: each one's next date is 3 weeks after its first.
    async with pool.acquire() as conn:
        firsts = dict(await conn.fetch("SELECT id, starts_at_utc FROM events"))
        await conn.execute(
            """UPDATE events SET recurrence = 'FREQ=WEEKLY', over_at = NULL,
                starts_at = starts_at - interval '23 days', ends_at = ends_at - interval '23 days',
                starts_at_utc = starts_at_utc - interval '23 days',
                ends_at_utc = ends_at_utc - interval '23 days'"""
        )
    response = await api.post(
        "/v1/admin/weights/preview",
        json={"weights": weights(distance=4.0, distance_decay_km=1.0), "sample_size": 40},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    users = result["users"]
    assert len(users) == 40 and any(u["before"] for u in users) and result["users_changed"] > 0
    entries = 0
    for user in users:
        assert set(user) == PER_USER_KEYS
        assert isinstance(user["changed"], bool)
        for entry in user["before"] + user["after"]:
            entries += 1
            assert set(entry) <= PER_ENTRY_KEYS, entry
            assert "km" not in entry["explanation"] and "away" not in entry["explanation"]
            expected = firsts[entry["event_id"]] - timedelta(days=2)
            assert datetime.fromisoformat(entry["next_starts_at"]) == expected
        for key, value in _leaves(user):
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, int | float):
                assert key in NUMBERS_ALLOWED and isinstance(value, int), (key, value)
            else:
                assert isinstance(value, str) and key in {"title", "explanation", "next_starts_at"}
    assert entries > 40
    # The aggregates stay: counts and the two 10-bin histograms over the whole sample.
    assert len(result["histogram"]["before"]) == len(result["histogram"]["after"]) == 10
    assert result["appeared"] + result["disappeared"] > 0


async def test_preview_needs_twenty_users_to_sample(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    await seed_city(pool, events=10, profiles=19)
    body = {"weights": DEFAULTS, "sample_size": 20}
    response = await api.post("/v1/admin/weights/preview", json=body, headers=admin_headers)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "at least 20 users" in response.json()["detail"]
    await seed_city(pool, events=0, profiles=1, seed=8)
    response = await api.post("/v1/admin/weights/preview", json=body, headers=admin_headers)
    assert response.status_code == 200 and len(response.json()["users"]) == 20


async def test_preview_of_the_active_weights_changes_nothing(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    await seed_city(pool)
    response = await api.post(
        "/v1/admin/weights/preview", json={"weights": DEFAULTS, "seed": 1}, headers=admin_headers
    )
    result = response.json()
    assert result["sample_size"] == 40  # fewer profiles than the default 50
    assert result["appeared"] == result["disappeared"] == result["users_changed"] == 0
    assert result["histogram"]["before"] == result["histogram"]["after"]
    assert result["matches_before"] == result["matches_after"] > 0
    for user in result["users"]:
        assert user["before"] == [{**m, "rank_before": None} for m in user["after"]]
        assert all(m["rank_before"] == m["rank"] for m in user["after"])


async def test_preview_seed_picks_the_sample(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    await seed_city(pool)

    async def tops(seed: int) -> list[list[int]]:
        response = await api.post(
            "/v1/admin/weights/preview",
            json={"weights": DEFAULTS, "sample_size": 20, "seed": seed},
            headers=admin_headers,
        )
        return [[m["event_id"] for m in u["before"]] for u in response.json()["users"]]

    assert await tops(1) == await tops(1)
    assert await tops(1) != await tops(2)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"sample_size": 501}, "sample_size"),
        ({"sample_size": 19}, "sample_size"),
        ({"sample_size": 1}, "sample_size"),
        ({"sample_size": 0}, "sample_size"),
        ({"seed": -1}, "seed"),
    ],
)
async def test_preview_limits(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], extra: dict[str, int], field: str
) -> None:
    response = await api.post(
        "/v1/admin/weights/preview", json={"weights": DEFAULTS, **extra}, headers=admin_headers
    )
    assert response.status_code == 422
    assert field in response.json()["detail"]


async def test_preview_rejects_a_note(
    api: AsyncTestClient[Any], admin_headers: dict[str, str]
) -> None:
    response = await api.post(
        "/v1/admin/weights/preview",
        json={"weights": {**DEFAULTS, "note": "x"}},
        headers=admin_headers,
    )
    assert response.status_code == 422


async def test_stats(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    await seed_city(pool, events=10, profiles=12, store_pairs=False)
    async with pool.acquire() as conn:
        profile_ids = [r["id"] for r in await conn.fetch("SELECT id FROM profiles ORDER BY id")]
        event_ids = [r["id"] for r in await conn.fetch("SELECT id FROM events ORDER BY id")]
        await conn.execute("UPDATE events SET status = 'cancelled' WHERE id = $1", event_ids[0])
        # Three matches for the first profile, one for the second.
        for pid, eid in [(profile_ids[0], e) for e in event_ids[:3]] + [
            (profile_ids[1], event_ids[0])
        ]:
            await conn.execute(
                """WITH x AS (
                       INSERT INTO match_explanations (text) VALUES ('x')
                       ON CONFLICT (text) DO UPDATE SET text = EXCLUDED.text RETURNING id
                   )
                   INSERT INTO matches (profile_id, event_id, distance_km, online,
                   interest_score, comfort_gap, explanation_id)
                   SELECT $1, $2, 1, false, 0.5, 0, x.id FROM x""",
                pid,
                eid,
            )
    empty = (await api.get("/v1/admin/stats", headers=admin_headers)).json()
    assert empty["last_full_rescore"] is None
    await put_weights(api, admin_headers, "for stats", comfort=2.0)
    assert (await api.get("/v1/admin/stats", headers=admin_headers)).json()["outbox_depth"] == 0
    # The nightly consistency job, queued as its cron queues it.
    await pool.execute("INSERT INTO rescore_runs (weight_version, reason) VALUES (2, 'nightly')")
    await pool.execute("INSERT INTO outbox (kind, subject_id) VALUES ('rescore', 2)")

    response = await api.get("/v1/admin/stats", headers=admin_headers)
    assert response.status_code == 200
    stats = response.json()
    assert (stats["profiles"], stats["events"], stats["live_events"]) == (12, 10, 9)
    assert stats["matches"] == 4
    assert stats["outbox_depth"] == 1
    assert stats["queue_depth"] == 0  # not sent yet: the outbox sweep sends it
    assert sorted(stats["events_by_intensity"]) == ["1", "2", "3", "4", "5"]
    assert sum(stats["events_by_intensity"].values()) == 9
    per_user = {b["label"]: b["users"] for b in stats["matches_per_user"]}
    assert per_user == {"0": 10, "1-2": 1, "3-5": 1, "6-10": 0, "11-20": 0, "21-50": 0, "51+": 0}
    run = stats["last_full_rescore"]
    assert run["version"] == 2 and run["reason"] == "nightly"
    assert run["finished_at"] is None and run["duration_s"] is None
    assert stats["buddy_pairs"] == 0
    assert stats["checkins_by_answer"] == {"went_fine": 0, "too_much": 0, "didnt_go": 0}

    # The first step's counts: a linked pair (a row each side), answers, changes.
    a, b, c = profile_ids[:3]
    await pool.execute("INSERT INTO buddies (profile_id, buddy_id) VALUES ($1, $2), ($2, $1)", a, b)
    for n, answer in enumerate(("went_fine", "went_fine", "too_much")):
        await pool.execute(
            "INSERT INTO checkins (profile_id, event_id, occurrence, occurrence_utc, answer,"
            " intensity, comfort_level) VALUES ($1, $2, $3, $4, $5, 2, 2)",
            c,
            event_ids[1],
            datetime(2026, 1, 1 + n, 19),
            datetime(2026, 1, 1 + n, 18, tzinfo=UTC),
            answer,
        )
    await pool.execute(
        "INSERT INTO comfort_changes (profile_id, kind, from_level, to_level, reason, checkin_ids)"
        " VALUES ($1, 'raised', 2, 3, 'two fine stretches', '{1, 2}')",
        c,
    )
    stats = (await api.get("/v1/admin/stats", headers=admin_headers)).json()
    assert stats["buddy_pairs"] == 1
    assert stats["checkins_by_answer"] == {"went_fine": 2, "too_much": 1, "didnt_go": 0}
    assert stats["comfort_changes"] == {"raised": 1, "lowered": 0, "stretch_paused": 0}


async def test_stats_queue_depth_is_null_when_redis_is_down(
    settings: Settings, db_clean: None, admin_headers: dict[str, str]
) -> None:
    from services.api.app import create_app

    # A port nothing listens on: Redis is "down" for this app only.
    down = settings.with_urls(settings.database_url or "", "redis://127.0.0.1:9/0")
    async with AsyncTestClient(app=create_app(down), base_url="http://api.test") as client:
        stats = (await client.get("/v1/admin/stats", headers=admin_headers)).json()
        assert stats["queue_depth"] is None
        # A save still succeeds, live at once: it needs no queue at all.
        saved = await client.put(
            "/v1/admin/weights", json={**DEFAULTS, "note": "offline"}, headers=admin_headers
        )
        assert saved.status_code == 201
        active = (await client.get("/v1/admin/weights", headers=admin_headers)).json()
        assert active["version"] == saved.json()["version"]


ADMIN_CALLS = [
    ("GET", "/v1/admin/weights", None),
    ("PUT", "/v1/admin/weights", {**DEFAULTS, "note": "x"}),
    ("GET", "/v1/admin/weights/history", None),
    ("POST", "/v1/admin/weights/1/activate", None),
    ("POST", "/v1/admin/weights/preview", {"weights": DEFAULTS}),
    ("GET", "/v1/admin/stats", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_only_the_admin_key_reaches_weights_and_stats(
    api: AsyncTestClient[Any],
    pool: asyncpg.Pool,
    settings: Settings,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    from shared.crypto import token_hash

    assert settings.secret_key
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO organisers (name, contact_email, key_hash) VALUES ('o', 'o@x.org', $1)",
            token_hash(settings.secret_key, "organiser-key-for-test", purpose="organiser"),
        )
    before = await table_counts(pool)
    anonymous = await api.request(method, path, json=body)
    assert anonymous.status_code == 401
    unknown = await api.request(
        method, path, json=body, headers={"Authorization": "Bearer not-a-key"}
    )
    assert unknown.status_code == 401
    organiser = await api.request(
        method, path, json=body, headers={"Authorization": "Bearer organiser-key-for-test"}
    )
    assert organiser.status_code == 403
    assert await table_counts(pool) == before


async def test_preview_weighs_the_stored_pairs_and_its_after_is_live_once_saved(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    """The preview weighs the very pairs readers weigh: with every profile in the sample,
    its "before" is the matches the stats count now, and once the candidate is saved its
    "after" is what they count, at once, with no match row written."""
    await seed_city(pool, events=20, profiles=30)
    candidate = {**DEFAULTS, "distance": 2.0, "min_score": 0.5}
    preview = await api.post(
        "/v1/admin/weights/preview",
        json={"weights": candidate, "sample_size": 500},
        headers=admin_headers,
    )
    result = preview.json()
    assert result["sample_size"] == 30
    stats = (await api.get("/v1/admin/stats", headers=admin_headers)).json()
    assert stats["matches"] == result["matches_before"] > result["matches_after"] > 0
    rows = await pool.fetchval("SELECT count(*) FROM matches")
    written = await pool.fetchval("SELECT max(scored_at) FROM matches")
    await put_weights(api, admin_headers, "closer, fewer", **candidate)
    stats = (await api.get("/v1/admin/stats", headers=admin_headers)).json()
    assert stats["matches"] == result["matches_after"]
    assert stats["last_full_rescore"] is None and stats["outbox_depth"] == 0
    assert await pool.fetchval("SELECT count(*) FROM matches") == rows
    assert await pool.fetchval("SELECT max(scored_at) FROM matches") == written
