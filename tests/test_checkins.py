"""Check-ins (SPEC "Check-ins"): which occurrences may be answered, what is kept with an
answer, and, only with adapt_comfort, the graded steps: a level up after two fine
stretches, a stretch pause after a too_much, a level down after two, a count that starts
again on any change of level. Real PostgreSQL, Redis and worker; real time where it can
be (events a few seconds long), occurrence records by SQL where it cannot."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from services.worker.occurrences import end_stretch_pauses, record_started_occurrences
from shared.db.checkins import record_occurrences
from shared.db.matches import upsert_pairs
from shared.queue import connect_queue
from shared.settings import Settings
from tests.factories import bearer, create_organiser, post_event
from tests.test_api_profiles import create
from tests.test_match_locks import new_profile
from tests.weighing import parts_scoring

Drain = Callable[[], Awaitable[int]]
# At comfort level 2: intensity 3 is a stretch, intensity 1 is well within.
STRETCH = {"group_size": 20, "talking_optional": False, "newcomer_support": False}
GENTLE = {"group_size": 6}


def local(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


class User:
    def __init__(self, created: dict[str, Any]) -> None:
        self.id: int = created["id"]
        self.headers = bearer(created["token"])


async def user(api: AsyncTestClient[Any], *, adapt: bool) -> User:
    created = await create(
        api, availability=[], comfort_level=2, open_to_stretch=True, adapt_comfort=adapt
    )
    assert created["adapt_comfort"] is adapt
    return User(created)


async def organiser(api: AsyncTestClient[Any], admin_headers: dict[str, str]) -> str:
    return (await create_organiser(api, admin_headers))[1]


async def ended_occurrences(
    api: AsyncTestClient[Any], key: str, drain: Drain, pool: asyncpg.Pool, *kinds: dict[str, Any]
) -> list[tuple[int, str]]:
    """One-off events a second long, one after another from a few seconds ahead, matched
    by the worker, recorded by its cron as they start, and over: (event id, occurrence)."""
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    made = []
    for i, kind in enumerate(kinds):
        start = base + timedelta(seconds=i)
        event = await post_event(
            api,
            key,
            timezone="UTC",
            starts_at=local(start),
            ends_at=local(start + timedelta(seconds=1)),
            **kind,
        )
        made.append((event["id"], local(start)))
    await drain()
    over = base + timedelta(seconds=len(kinds))
    await asyncio.sleep(max(0.0, (over - datetime.now(UTC)).total_seconds()) + 0.3)
    await record_started_occurrences({"pool": pool})
    return made


async def check_in(
    api: AsyncTestClient[Any], who: User, occurrence: tuple[int, str], answer: str
) -> Any:
    body = {"event_id": occurrence[0], "occurrence": occurrence[1], "answer": answer}
    return await api.post("/v1/me/checkins", json=body, headers=who.headers)


async def me(api: AsyncTestClient[Any], who: User) -> dict[str, Any]:
    resp = await api.get("/v1/me", headers=who.headers)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


async def profile_jobs(pool: asyncpg.Pool, who: User) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE kind = 'profile' AND subject_id = $1", who.id
        )
    return n


async def matched(api: AsyncTestClient[Any], who: User) -> set[int]:
    resp = await api.get("/v1/me/matches", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return {m["event"]["id"] for m in resp.json()["items"]}


async def test_two_fine_stretches_raise_comfort_only_with_consent(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], drain_queue: Drain, pool: Any
) -> None:
    key = await organiser(api, admin_headers)
    consenting, keeping = await user(api, adapt=True), await user(api, adapt=False)
    first, second = await ended_occurrences(api, key, drain_queue, pool, STRETCH, STRETCH)
    for who in (keeping, consenting):
        jobs_before = await profile_jobs(pool, who)
        one = await check_in(api, who, first, "went_fine")
        assert one.status_code == 201, one.text
        assert one.json()["intensity"] == 3 and one.json()["comfort_level"] == 2
        assert (await me(api, who))["comfort_level"] == 2
        two = await check_in(api, who, second, "went_fine")
        assert two.status_code == 201, two.text
        after = await me(api, who)
        if who is keeping:  # kept, and nothing changes
            assert after["comfort_level"] == 2 and after["comfort_changes"] == []
            assert await profile_jobs(pool, who) == jobs_before
            listed = (await api.get("/v1/me/checkins", headers=who.headers)).json()["items"]
            assert [c["id"] for c in listed] == [two.json()["id"], one.json()["id"]]
            assert [c["occurrence"] for c in listed] == [second[1], first[1]]
        else:
            assert after["comfort_level"] == 3
            [change] = after["comfort_changes"]
            assert change["kind"] == "raised"
            assert (change["from_level"], change["to_level"]) == (2, 3)
            assert change["checkins"] == [one.json()["id"], two.json()["id"]]
            assert "went fine" in change["reason"] and change["pause_ends_at"] is None
            assert await profile_jobs(pool, who) == jobs_before + 1  # re-scored at once
            export = (await api.get("/v1/me/export", headers=who.headers)).json()
            assert export["comfort_changes"] == after["comfort_changes"]
            assert len(export["checkins"]) == 2


async def test_too_much_pauses_stretch_for_fourteen_days(
    api: AsyncTestClient[Any],
    admin_headers: dict[str, str],
    drain_queue: Drain,
    pool: Any,
    settings: Settings,
) -> None:
    key = await organiser(api, admin_headers)
    who = await user(api, adapt=True)
    later_stretch = (await post_event(api, key, **STRETCH))["id"]
    later_gentle = (await post_event(api, key, **GENTLE))["id"]
    [occurrence] = await ended_occurrences(api, key, drain_queue, pool, STRETCH)
    assert {later_stretch, later_gentle} <= await matched(api, who)

    resp = await check_in(api, who, occurrence, "too_much")
    assert resp.status_code == 201, resp.text
    answered = datetime.fromisoformat(resp.json()["answered_at"])
    after = await me(api, who)
    assert after["comfort_level"] == 2  # comfort unchanged
    [pause] = after["comfort_changes"]
    assert pause["kind"] == "stretch_paused" and pause["checkins"] == [resp.json()["id"]]
    ends = datetime.fromisoformat(pause["pause_ends_at"])
    assert abs(ends - (answered + timedelta(days=14))) < timedelta(seconds=5)
    await drain_queue()
    now_matched = await matched(api, who)
    assert later_gentle in now_matched and later_stretch not in now_matched

    # Fourteen days on (moved by SQL): the cron ends the pause and re-scores.
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE profiles SET stretch_paused_until = now() - interval '1 second' WHERE id = $1",
            who.id,
        )
    redis = connect_queue(settings)
    try:
        ctx = {"pool": pool, "redis": redis, "settings": settings}
        assert await end_stretch_pauses(ctx) == 1
        assert await end_stretch_pauses(ctx) == 0
    finally:
        await redis.aclose()
    await drain_queue()
    assert later_stretch in await matched(api, who)

    # Changing the answer and back is a new too_much: a new pause, which the user ends by
    # naming open_to_stretch.
    assert (await check_in(api, who, occurrence, "went_fine")).status_code == 200
    assert (await check_in(api, who, occurrence, "too_much")).status_code == 200
    await drain_queue()
    assert later_stretch not in await matched(api, who)
    patched = await api.patch("/v1/me", json={"open_to_stretch": True}, headers=who.headers)
    assert patched.status_code == 200, patched.text
    newest = patched.json()["comfort_changes"][0]
    assert newest["kind"] == "stretch_paused" and newest["ended_early"] is True
    assert datetime.fromisoformat(newest["pause_ends_at"]) <= datetime.now(UTC)
    await drain_queue()
    assert later_stretch in await matched(api, who)


async def test_two_too_much_lower_comfort_by_one(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], drain_queue: Drain, pool: Any
) -> None:
    key = await organiser(api, admin_headers)
    who = await user(api, adapt=True)
    first, second = await ended_occurrences(api, key, drain_queue, pool, GENTLE, GENTLE)
    assert (await check_in(api, who, first, "too_much")).status_code == 201
    assert (await me(api, who))["comfort_level"] == 2
    two = await check_in(api, who, second, "too_much")
    after = await me(api, who)
    assert after["comfort_level"] == 1
    kinds = [c["kind"] for c in after["comfort_changes"]]
    assert kinds == ["lowered", "stretch_paused", "stretch_paused"]  # newest first
    lowered = after["comfort_changes"][0]
    assert (lowered["from_level"], lowered["to_level"]) == (2, 1)
    assert lowered["checkins"][-1] == two.json()["id"] and len(lowered["checkins"]) == 2


async def test_didnt_go_changes_nothing(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], drain_queue: Drain, pool: Any
) -> None:
    key = await organiser(api, admin_headers)
    who = await user(api, adapt=True)
    one, skipped, three = await ended_occurrences(
        api, key, drain_queue, pool, STRETCH, STRETCH, STRETCH
    )
    first = await check_in(api, who, one, "went_fine")
    jobs_before = await profile_jobs(pool, who)
    assert (await check_in(api, who, skipped, "didnt_go")).status_code == 201
    after = await me(api, who)
    assert after["comfort_level"] == 2 and after["comfort_changes"] == []
    assert await profile_jobs(pool, who) == jobs_before
    # Skipped, not a break: the two fine ones either side of it are the last two counted.
    last = await check_in(api, who, three, "went_fine")
    after = await me(api, who)
    assert after["comfort_level"] == 3
    assert after["comfort_changes"][0]["checkins"] == [first.json()["id"], last.json()["id"]]


async def test_own_change_of_level_restarts_the_count(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], drain_queue: Drain, pool: Any
) -> None:
    key = await organiser(api, admin_headers)
    who = await user(api, adapt=True)
    [before] = await ended_occurrences(api, key, drain_queue, pool, STRETCH)
    assert (await check_in(api, who, before, "went_fine")).status_code == 201
    for level in (1, 2):  # the user's own changes, ending where they began
        resp = await api.patch("/v1/me", json={"comfort_level": level}, headers=who.headers)
        assert resp.status_code == 200, resp.text
    one, two = await ended_occurrences(api, key, drain_queue, pool, STRETCH, STRETCH)
    assert (await check_in(api, who, one, "went_fine")).status_code == 201
    after = await me(api, who)
    assert after["comfort_level"] == 2 and after["comfort_changes"] == []  # count began anew
    assert (await check_in(api, who, two, "went_fine")).status_code == 201
    assert (await me(api, who))["comfort_level"] == 3


async def test_checkin_only_for_an_ended_matched_occurrence_within_fourteen_days(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], drain_queue: Drain, pool: Any
) -> None:
    key = await organiser(api, admin_headers)
    who = await user(api, adapt=False)
    today = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    series = await post_event(
        api,
        key,
        timezone="UTC",
        starts_at=local(today - timedelta(days=20)),
        ends_at=local(today - timedelta(days=20) + timedelta(hours=1)),
        recurrence="FREQ=DAILY",
    )
    running = await post_event(
        api,
        key,
        timezone="UTC",
        starts_at=local(datetime.now(UTC) + timedelta(seconds=1)),
        ends_at=local(datetime.now(UTC) + timedelta(hours=1)),
    )
    await drain_queue()
    await asyncio.sleep(1.5)
    await record_started_occurrences({"pool": pool})
    old, recent, unmatched = (today - timedelta(days=d) for d in (16, 2, 3))
    async with pool.acquire() as conn:
        for start in (old, recent):
            await conn.execute(
                "INSERT INTO match_occurrences (profile_id, event_id, starts_at, starts_at_utc,"
                " ends_at_utc, intensity, comfort_level) VALUES ($1, $2, $3, $4, $5, 1, 2)",
                who.id,
                series["id"],
                start.replace(tzinfo=None),
                start,
                start + timedelta(hours=1),
            )
        assert await conn.fetchval(
            "SELECT count(*) FROM match_occurrences WHERE event_id = $1", running["id"]
        )

    async def refused(event_id: int, occurrence: str, field: str, words: str) -> None:
        resp = await check_in(api, who, (event_id, occurrence), "went_fine")
        assert resp.status_code == 422, resp.text
        [error] = resp.json()["errors"]
        assert error["field"] == field and words in error["reason"], error

    await refused(series["id"], local(recent + timedelta(minutes=30)), "occurrence", "not the")
    await refused(running["id"], running["starts_at"], "occurrence", "not ended")
    await refused(series["id"], local(old), "occurrence", "14 days")
    await refused(series["id"], local(unmatched), "occurrence", "not among your suggestions")
    await refused(2**40, local(recent), "event_id", "not an event")
    resp = await api.post(
        "/v1/me/checkins",
        json={"event_id": series["id"], "occurrence": local(recent), "answer": "fine"},
        headers=who.headers,
    )
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "answer"
    for bad in ("2026-02-30T10:00:00", "2026-12-01T10:00:00+01:00", "yesterday"):
        body = {"event_id": series["id"], "occurrence": bad, "answer": "went_fine"}
        resp = await api.post("/v1/me/checkins", json=body, headers=who.headers)
        assert resp.status_code == 422, (bad, resp.text)
        assert resp.json()["errors"][0]["field"] == "occurrence"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM checkins") == 0  # nothing written

    first = await check_in(api, who, (series["id"], local(recent)), "didnt_go")
    assert first.status_code == 201, first.text
    again = await check_in(api, who, (series["id"], local(recent)), "went_fine")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"] and again.json()["answer"] == "went_fine"
    listed = (await api.get("/v1/me/checkins", headers=who.headers)).json()
    assert [c["answer"] for c in listed["items"]] == ["went_fine"] and listed["next"] is None


async def test_records_are_kept_fourteen_days_and_erasure_removes_everything(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], drain_queue: Drain, pool: Any
) -> None:
    key = await organiser(api, admin_headers)
    who, other = await user(api, adapt=True), await user(api, adapt=False)
    [occurrence] = await ended_occurrences(api, key, drain_queue, pool, STRETCH)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT profile_id, intensity, comfort_level FROM match_occurrences"
            " WHERE event_id = $1 ORDER BY profile_id",
            occurrence[0],
        )
        assert [tuple(r) for r in rows] == [(who.id, 3, 2), (other.id, 3, 2)]
        await conn.execute(
            "UPDATE match_occurrences SET ends_at_utc = now() - interval '14 days 1 second'"
            " WHERE profile_id = $1",
            other.id,
        )
    await record_started_occurrences({"pool": pool})
    async with pool.acquire() as conn:
        left = await conn.fetch("SELECT profile_id FROM match_occurrences")
    assert [r["profile_id"] for r in left] == [who.id]
    assert (await check_in(api, who, occurrence, "too_much")).status_code == 201
    assert (await api.delete("/v1/me", headers=who.headers)).status_code == 204
    async with pool.acquire() as conn:
        for table in ("checkins", "comfort_changes", "match_occurrences"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_an_occurrence_is_recorded_only_for_pairs_that_are_matches_then(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: Any
) -> None:
    """Every eligible pair is stored (weights apply at read): the record keeps only those
    the active weights make matches at the occurrence's start."""
    key = await organiser(api, admin_headers)
    event = await post_event(api, key)
    async with pool.acquire() as conn:
        above, below = await new_profile(conn, 7), await new_profile(conn, 8)
        await upsert_pairs(
            conn,
            [
                (above, parts_scoring(event["id"], 0.8, "x")),
                (below, parts_scoring(event["id"], 0.31, "x")),
            ],
        )
        # A version whose min_score only the first pair reaches.
        await conn.execute(
            "INSERT INTO weight_versions (version, distance, interest, comfort, distance_decay_km,"
            " online_score, stretch_penalty, min_score, note)"
            " VALUES (2, 1, 1, 1, 5, 0.6, 0.4, 0.5, 't')"
        )
        await conn.execute("UPDATE active_weights SET version = 2")
        start = datetime(2030, 12, 1, 19)
        utc = start.replace(tzinfo=UTC)
        assert (
            await record_occurrences(conn, [(event["id"], start, utc, utc + timedelta(hours=2))])
            == 1
        )
        recorded = await conn.fetch("SELECT profile_id FROM match_occurrences")
    assert [r["profile_id"] for r in recorded] == [above]
