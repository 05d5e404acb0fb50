"""The scoring jobs called directly on the real database: idempotence, concurrency, the
indexes the candidate queries use, the re-score chunk's guards against stale writes.

Also holds `expected_matches`: a from-scratch computation with the pure scoring over
every pair, which the end-to-end and fault tests compare the stored matches with.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis

from services.worker import jobs
from shared.crypto import token_hash
from shared.db import candidates, rescore, rescore_tables
from shared.db import scoring_inputs as inputs
from shared.db.outbox import add_outbox
from shared.db.rescore_tables import part_name, table_name
from shared.db.weighing import ACTIVE_WEIGHTS, IS_MATCH, WEIGHED
from shared.db.weights import active_weights
from shared.geodesy import distances_km
from shared.queue import connect_queue
from shared.settings import Settings
from tests.conftest import SECRET_KEY
from tests.weighing import scored

Row = tuple[int, int]  # (profile_id, event_id)


async def expected_matches(pool: asyncpg.Pool) -> dict[Row, dict[str, Any]]:
    """Every match the SPEC implies now, from scratch: the exact geodesic, score_pair."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        version, weights = await active_weights(conn)
        events = await inputs.load_live_events(conn, now)
        profiles = await inputs.load_profile_range(conn, 0, 2**62)
    assert weights is not None
    out: dict[Row, dict[str, Any]] = {}
    for p in profiles:
        # pyproj's Karney geodesic: geopy's answer to the nanometre, fast over many pairs.
        venues = [e for e in events if e.lat is not None]
        km_to = dict(
            zip(
                (e.id for e in venues),
                distances_km(
                    p.home_lat, p.home_lon, [e.lat for e in venues], [e.lon for e in venues]
                ).tolist(),
                strict=True,
            )
        )
        for e in events:
            s = scored(p, e, weights, km_to.get(e.id), now=now)
            if s is not None:
                out[(p.id, e.id)] = {
                    "score": s.score,
                    "distance_km": s.distance_km,
                    "explanation": s.explanation,
                    "weight_version": version,
                }
    return out


async def stored_matches(
    pool: asyncpg.Pool, *, live_only: bool = True
) -> dict[Row, dict[str, Any]]:
    """The stored matches (by default those of scheduled events), weighed as readers do."""
    rows = await pool.fetch(
        f"WITH {ACTIVE_WEIGHTS} SELECT m.profile_id, m.event_id, s.score, s.distance_km,"
        " w.version AS weight_version, x.text AS explanation"
        f" FROM matches m {WEIGHED} JOIN events e ON e.id = m.event_id"
        " JOIN match_explanations x ON x.id = m.explanation_id"
        f" WHERE {IS_MATCH} AND (NOT $1 OR e.status = 'scheduled') ORDER BY 1, 2",
        live_only,
    )
    return {
        (r["profile_id"], r["event_id"]): {
            "score": r["score"],
            "distance_km": r["distance_km"],
            "explanation": r["explanation"],
            "weight_version": r["weight_version"],
        }
        for r in rows
    }


def assert_same_matches(got: dict[Row, dict[str, Any]], want: dict[Row, dict[str, Any]]) -> None:
    """Same pairs, texts and versions; numbers equal as stored (float4)."""
    assert sorted(got) == sorted(want), set(got) ^ set(want)
    for key, w in want.items():
        g = got[key]
        assert g["explanation"] == w["explanation"], key
        assert g["weight_version"] == w["weight_version"], key
        assert g["score"] == pytest.approx(w["score"], abs=1e-6), key
        if w["distance_km"] is None:
            assert g["distance_km"] is None, key
        else:
            assert g["distance_km"] == pytest.approx(w["distance_km"], abs=1e-4), key


# --- data written straight through SQL (the jobs' inputs), no API needed -----------------

_profiles = 0


async def add_profile(conn: asyncpg.Connection, lat: float, lon: float, **cols: Any) -> int:
    global _profiles
    _profiles += 1
    values: dict[str, Any] = {
        "token_hash": token_hash(SECRET_KEY, f"tok-{_profiles}-{lat}", purpose="profile"),
        "feed_token_hash": token_hash(SECRET_KEY, f"feed-{_profiles}-{lat}", purpose="feed"),
        "feed_token_sealed": b"\x00",
        "home_lat": lat,
        "home_lon": lon,
        "radius_km": 5.0,
        "comfort_level": 3,
        "interests": {"board-games": 0.8},
        "timezone": "Europe/Berlin",
        **cols,
    }
    names = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    pid: int = await conn.fetchval(
        f"INSERT INTO profiles ({names}) VALUES ({params}) RETURNING id", *values.values()
    )
    return pid


async def add_event(
    conn: asyncpg.Connection, lat: float | None, lon: float | None, **cols: Any
) -> int:
    organiser = await conn.fetchval("SELECT id FROM organisers LIMIT 1")
    if organiser is None:
        organiser = await conn.fetchval(
            "INSERT INTO organisers (name, contact_email, key_hash) VALUES ('o', 'o@x.org', $1)"
            " RETURNING id",
            b"organiser-key-hash",
        )
    values: dict[str, Any] = {
        "organiser_id": organiser,
        "title": "Board games",
        "starts_at": datetime(2030, 12, 1, 19),
        "ends_at": datetime(2030, 12, 1, 21),
        "timezone": "Europe/Berlin",
        "starts_at_utc": datetime(2030, 12, 1, 18, tzinfo=UTC),
        "ends_at_utc": datetime(2030, 12, 1, 20, tzinfo=UTC),
        "over_at": datetime(2030, 12, 1, 20, tzinfo=UTC),
        "format": "in_person" if lat is not None else "online",
        "lat": lat,
        "lon": lon,
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
    eid: int = await conn.fetchval(
        f"INSERT INTO events ({names}) VALUES ({params}) RETURNING id", *values.values()
    )
    return eid


@pytest.fixture
async def ctx(
    settings: Settings, pool: asyncpg.Pool, db_clean: None
) -> AsyncIterator[dict[str, Any]]:
    """What the worker puts into arq's ctx, for calling job functions directly."""
    queue: ArqRedis = connect_queue(settings)
    yield {"pool": pool, "settings": settings, "redis": queue}
    await queue.aclose()


async def outbox_row(pool: asyncpg.Pool, kind: str, subject: int) -> int:
    async with pool.acquire() as conn:
        return await add_outbox(conn, kind, subject)


async def one_chunk_run(conn: asyncpg.Connection) -> int:
    """A full re-score run of version 1, fanned out into a single chunk."""
    run = await rescore.add_run(conn, 1, "test")
    assert await jobs.fan_out(conn, run, 1000) == 1
    return run


async def scored_at(pool: asyncpg.Pool) -> list[Any]:
    return [r["scored_at"] for r in await pool.fetch("SELECT scored_at FROM matches ORDER BY 1")]


async def test_score_event_matches_who_it_should_and_marks_done(
    ctx: dict[str, Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        near = await add_profile(conn, 52.52, 13.40)
        far = await add_profile(conn, 52.60, 13.40)  # ~9 km: outside its 5 km radius
        gentle = await add_profile(conn, 52.515, 13.40, comfort_level=1)
        event = await add_event(conn, 52.5145, 13.4016)
    box = await outbox_row(pool, "event", event)
    assert await jobs.score_event(ctx, box, event) == 2
    got = await stored_matches(pool)
    assert set(got) == {(near, event), (gentle, event)} and far not in {p for p, _ in got}
    assert_same_matches(got, await expected_matches(pool))
    assert await pool.fetchval("SELECT done_at IS NOT NULL FROM outbox WHERE id = $1", box)


async def test_running_a_job_twice_or_twice_at_once_gives_the_same_matches(
    ctx: dict[str, Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        for i in range(20):
            await add_profile(conn, 52.50 + i * 0.002, 13.40)
        event = await add_event(conn, 52.52, 13.40)
    box = await outbox_row(pool, "event", event)
    await asyncio.gather(jobs.score_event(ctx, box, event), jobs.score_event(ctx, box, event))
    first = await stored_matches(pool)
    stamps = await scored_at(pool)
    assert len(first) > 5
    await jobs.score_event(ctx, box, event)
    assert await stored_matches(pool) == first
    assert await scored_at(pool) == stamps  # unchanged rows are not rewritten


async def test_score_profile_follows_a_move_and_keeps_cancelled_matches(
    ctx: dict[str, Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        pid = await add_profile(conn, 52.52, 13.40)
        live = await add_event(conn, 52.521, 13.401)
        called_off = await add_event(conn, 52.522, 13.402)
        online = await add_event(conn, None, None, online_url="https://meet.example/x")
    await jobs.score_profile(ctx, await outbox_row(pool, "profile", pid), pid)
    assert set(await stored_matches(pool, live_only=False)) == {
        (pid, live),
        (pid, called_off),
        (pid, online),
    }
    await pool.execute("UPDATE events SET status = 'cancelled' WHERE id = $1", called_off)
    await pool.execute("UPDATE profiles SET home_lat = 48.0 WHERE id = $1", pid)  # moved far
    await jobs.score_profile(ctx, await outbox_row(pool, "profile", pid), pid)
    # The cancelled event stays (flagged by its status) until over; the online one stays.
    assert set(await stored_matches(pool, live_only=False)) == {(pid, called_off), (pid, online)}
    rows = await pool.fetch("SELECT distance_km FROM matches WHERE event_id = $1", online)
    assert rows[0]["distance_km"] is None


async def test_cancelled_event_is_never_newly_matched(
    ctx: dict[str, Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await add_profile(conn, 52.52, 13.40)
        event = await add_event(conn, 52.52, 13.40, status="cancelled")
    await jobs.score_event(ctx, await outbox_row(pool, "event", event), event)
    assert await pool.fetchval("SELECT count(*) FROM matches") == 0


async def test_event_candidates_use_the_reach_index(pool: asyncpg.Pool, db_clean: None) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN "
                + candidates.PROFILES_REACHING.replace("$1::float8", "13.4").replace(
                    "$2::float8", "52.5"
                )
            )
        )
        assert "profiles_reach" in plan, plan
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN "
                + candidates.EVENTS_IN_BOX.replace("$1", "13.3")
                .replace("$2", "52.4")
                .replace("$3", "13.5")
                .replace("$4", "52.6")
                .replace("$5", "now()")
            )
        )
        assert "events_venue_point" in plan, plan


async def test_reach_box_repeats_the_index_expression_exactly(pool: asyncpg.Pool) -> None:
    indexdef = await pool.fetchval(
        "SELECT pg_get_expr(indexprs, indrelid) FROM pg_index"
        " WHERE indexrelid = 'profiles_reach'::regclass"
    )
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            f"CREATE TEMP VIEW reach_check AS SELECT {candidates.REACH_BOX} AS b FROM profiles"
        )
        ours = await conn.fetchval("SELECT pg_get_viewdef('reach_check'::regclass)")
    # PostgreSQL 15 qualifies the columns in a view's text, 18 does not.
    assert "".join(indexdef.split()) in "".join(ours.replace("profiles.", "").split())


async def run_reopened(ctx: dict[str, Any], pool: asyncpg.Pool) -> int:
    """Run every pending scoring job now (what the worker does with the swap's enqueues)."""
    rows = await pool.fetch(
        "SELECT id, kind, subject_id FROM outbox WHERE done_at IS NULL AND kind <> 'rescore'"
    )
    for row in rows:
        job = jobs.score_event if row["kind"] == "event" else jobs.score_profile
        await job(ctx, row["id"], row["subject_id"])
    return len(rows)


async def test_changes_during_a_rescore_are_rescored_after_its_swap(
    ctx: dict[str, Any], pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "CHUNK_SIZE", 2)
    async with pool.acquire() as conn:
        near = [await add_profile(conn, 52.52 + i * 0.001, 13.40) for i in range(4)]
        moved = await add_event(conn, 52.521, 13.401)
        await add_event(conn, 52.522, 13.402)
    box = await outbox_row(pool, "rescore", 1)
    assert await jobs.rescore_all(ctx, box, 1) == 2
    run = await pool.fetchval("SELECT id FROM rescore_runs")
    await jobs.rescore_chunk(ctx, run, 0)  # the first two profiles, read before the edits
    # Meanwhile: an event moves out of everyone's reach and its job runs (on the old
    # table); a profile of the done chunk is erased; one of the next chunk hides an event.
    await pool.execute("UPDATE events SET lat = 48.0 WHERE id = $1", moved)
    await jobs.score_event(ctx, await outbox_row(pool, "event", moved), moved)
    await pool.execute("DELETE FROM profiles WHERE id = $1", near[0])
    await pool.execute(
        "INSERT INTO hidden_events (profile_id, event_id) VALUES ($1, $2)", near[3], moved
    )
    await outbox_row(pool, "profile", near[3])
    generation = await pool.fetchval("SELECT generation FROM match_generation")
    await jobs.rescore_chunk(ctx, run, 1)  # the last chunk enqueues the swap
    assert await pool.fetchval("SELECT finished_at IS NULL FROM rescore_runs") is True
    assert await jobs.finish_rescore(ctx, run) is True
    assert await jobs.finish_rescore(ctx, run) is False  # once
    assert await pool.fetchval("SELECT finished_at IS NOT NULL FROM rescore_runs") is True
    assert await pool.fetchval("SELECT generation FROM match_generation") == generation + 1
    # The erased profile left nothing behind; the moved event's job is pending again.
    assert await pool.fetchval("SELECT count(*) FROM matches WHERE profile_id = $1", near[0]) == 0
    assert await run_reopened(ctx, pool) == 2
    assert_same_matches(await stored_matches(pool), await expected_matches(pool))
    assert all(key[1] != moved for key in await stored_matches(pool))
    assert await pool.fetchval("SELECT to_regclass($1)", table_name(run)) is None


async def test_swap_keeps_matches_of_cancelled_events_and_the_constraints(
    ctx: dict[str, Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        pid = await add_profile(conn, 52.52, 13.40)
        called_off = await add_event(conn, 52.521, 13.401)
    await jobs.score_profile(ctx, await outbox_row(pool, "profile", pid), pid)
    await pool.execute("UPDATE events SET status = 'cancelled' WHERE id = $1", called_off)
    box = await outbox_row(pool, "rescore", 1)
    assert await jobs.rescore_all(ctx, box, 1) == 1
    run = await pool.fetchval("SELECT id FROM rescore_runs")
    await jobs.rescore_chunk(ctx, run, 0)
    assert await jobs.finish_rescore(ctx, run) is True
    assert set(await stored_matches(pool, live_only=False)) == {(pid, called_off)}
    # The swapped-in table is a full `matches`: key, index, and each partition's cascades.
    assert await pool.fetchval(
        "SELECT array_agg(conname) FROM pg_constraint"
        " WHERE conrelid = 'matches'::regclass AND contype IN ('p', 'f')"
    ) == ["matches_pkey"]
    assert await pool.fetchval("SELECT to_regclass('matches_event') IS NOT NULL") is True
    keys = {
        r["conname"]
        for r in await pool.fetch(
            "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f'",
            part_name(run, 0),
        )
    }
    assert keys == {f"{part_name(run, 0)}_profile_fkey", f"{part_name(run, 0)}_event_fkey"}
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pool.execute(
            "INSERT INTO matches (profile_id, event_id, distance_km, online, interest_score,"
            " comfort_gap, explanation_id) VALUES ($1 + 1000, $2, 1, false, 1, 0,"
            " (SELECT min(id) FROM match_explanations))",
            pid,
            called_off,
        )
    await pool.execute("DELETE FROM events WHERE id = $1", called_off)
    assert await pool.fetchval("SELECT count(*) FROM matches") == 0


async def test_a_weight_change_meanwhile_does_not_stop_a_run(
    ctx: dict[str, Any], pool: asyncpg.Pool
) -> None:
    """Weights are applied where matches are read: the parts a run stores hold for any
    version, so activating another one while it runs changes nothing of its work."""
    async with pool.acquire() as conn:
        await add_profile(conn, 52.52, 13.40)
        await add_event(conn, 52.521, 13.401)
        run = await one_chunk_run(conn)
        await conn.execute(
            "INSERT INTO weight_versions (version, distance, interest, comfort, distance_decay_km,"
            " online_score, stretch_penalty, min_score, note)"
            " VALUES (2, 1, 1, 1, 5, 0.6, 0.4, 0.3, 'x')"
        )
        await conn.execute("UPDATE active_weights SET version = 2")
    assert await jobs.rescore_chunk(ctx, run, 0) == 1
    assert await jobs.finish_rescore(ctx, run) is True
    assert await pool.fetchval("SELECT count(*) FROM matches") == 1
    assert await pool.fetchval("SELECT to_regclass($1)", table_name(run)) is None  # swapped in
    assert await pool.fetchval(
        "SELECT finished_at IS NOT NULL FROM rescore_runs WHERE id = $1", run
    )


async def test_run_is_dropped_when_a_newer_one_exists_even_on_the_same_version(
    ctx: dict[str, Any], pool: asyncpg.Pool
) -> None:
    """v1 -> v2 -> v1 again: the first run's version is active once more, but its chunks
    may have skipped work while v2 was; the newer run re-scores everything instead."""
    async with pool.acquire() as conn:
        pid = await add_profile(conn, 52.52, 13.40)
        eid = await add_event(conn, 52.521, 13.401)
        old = await one_chunk_run(conn)
        newer = await rescore.add_run(conn, 1, "test")  # the version came back
    assert await jobs.rescore_chunk(ctx, old, 0) == 0  # moot: scores nothing
    assert await jobs.finish_rescore(ctx, old) is True
    assert await pool.fetchval("SELECT to_regclass($1)", table_name(old)) is None
    async with pool.acquire() as conn:
        assert await jobs.fan_out(conn, newer, 1000) == 1
    assert await jobs.rescore_chunk(ctx, newer, 0) == 1
    assert await jobs.finish_rescore(ctx, newer) is True
    assert set(await stored_matches(pool)) == {(pid, eid)}


async def test_rescore_fans_out_chunks_and_finishes_the_run(
    ctx: dict[str, Any], pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "CHUNK_SIZE", 3)
    async with pool.acquire() as conn:
        for i in range(8):
            await add_profile(conn, 52.50 + i * 0.003, 13.40)
        await add_event(conn, 52.51, 13.40)
        await add_event(conn, None, None, online_url="https://meet.example/y")
    box = await outbox_row(pool, "rescore", 1)
    assert await jobs.rescore_all(ctx, box, 1) == 3
    assert await jobs.rescore_all(ctx, box, 1) == 0  # a retry fans out nothing more
    run = await pool.fetchrow("SELECT * FROM rescore_runs")
    assert run["chunks_total"] == 3 and run["finished_at"] is None
    for chunk_no in (2, 0, 1, 1):  # any order; a repeat counts once
        await jobs.rescore_chunk(ctx, run["id"], chunk_no)
    # The last chunk enqueued the swap, on the chunk queue, under a fixed id.
    queued = await ctx["redis"].zrange(ctx["settings"].chunk_queue_name, 0, -1)
    finish_id = f"{ctx['settings'].redis_prefix}:rescore-finish:{run['id']}"
    assert finish_id.encode() in queued
    assert await jobs.finish_rescore(ctx, run["id"]) is True
    run = await pool.fetchrow("SELECT * FROM rescore_runs")
    assert run["chunks_done"] == 3 and run["finished_at"] is not None
    assert run["matches"] == len(await stored_matches(pool)) > 8
    assert_same_matches(await stored_matches(pool), await expected_matches(pool))
    # One partition per chunk, tiling every id: a profile created after the swap (an id
    # above every chunk) has a home, and so would one below them all.
    bounds = [
        r[0]
        for r in await pool.fetch(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'matches'::regclass"
            " ORDER BY c.relname"
        )
    ]
    firsts = [
        r[0]
        for r in await pool.fetch(
            "SELECT first_profile_id FROM rescore_chunks WHERE run_id = $1 ORDER BY chunk_no",
            run["id"],
        )
    ]
    assert bounds == [
        f"FOR VALUES FROM (MINVALUE) TO ('{firsts[1]}')",
        f"FOR VALUES FROM ('{firsts[1]}') TO ('{firsts[2]}')",
        f"FOR VALUES FROM ('{firsts[2]}') TO (MAXVALUE)",
    ]
    async with pool.acquire() as conn:
        late = await add_profile(conn, 52.51, 13.401)
    assert await jobs.score_profile(ctx, await outbox_row(pool, "profile", late), late) == 2
    await pool.execute("DELETE FROM profiles WHERE id = $1", firsts[1])  # cascades
    assert_same_matches(await stored_matches(pool), await expected_matches(pool))


async def test_sweep_sends_a_lost_chunk_and_a_lost_swap_again(
    ctx: dict[str, Any], pool: asyncpg.Pool
) -> None:
    from services.worker.cron import sweep_rescore_chunks

    async with pool.acquire() as conn:
        await add_profile(conn, 52.52, 13.40)
        await add_event(conn, 52.521, 13.401)
        lost = await one_chunk_run(conn)
        swapless = await one_chunk_run(conn)
    await jobs.rescore_chunk(ctx, swapless, 0)  # done; its swap's enqueue "was lost"
    # Redis lost everything queued (the queue and the jobs it named).
    await ctx["redis"].delete(ctx["settings"].chunk_queue_name)
    async for key in ctx["redis"].scan_iter(match=f"arq:job:{ctx['settings'].redis_prefix}*"):
        await ctx["redis"].delete(key)
    assert await sweep_rescore_chunks(ctx) == 0  # neither is overdue yet
    # An hour later: the first run's chunk never ran, the second run never swapped.
    await pool.execute("UPDATE rescore_chunks SET enqueued_at = enqueued_at - interval '1 hour'")
    await pool.execute(
        "UPDATE rescore_chunks SET done_at = done_at - interval '1 hour' WHERE run_id = $1",
        swapless,
    )
    assert await sweep_rescore_chunks(ctx) == 2
    queued = set(await ctx["redis"].zrange(ctx["settings"].chunk_queue_name, 0, -1))
    prefix = ctx["settings"].redis_prefix
    assert queued == {
        f"{prefix}:rescore-chunk:{lost}:0".encode(),
        f"{prefix}:rescore-finish:{swapless}".encode(),
    }


async def test_chunks_are_even_with_no_straggler(pool: asyncpg.Pool, db_clean: None) -> None:
    async with pool.acquire() as conn:
        for i in range(7):
            await add_profile(conn, 52.50 + i * 0.003, 13.40)
        run = await rescore.add_run(conn, 1, "test")
        assert await rescore.fan_out(conn, run, 3) == 2  # 4 + 3, not 3 + 3 + 1
        sizes = await conn.fetch(
            "SELECT (SELECT count(*) FROM profiles p"
            "  WHERE p.id BETWEEN c.first_profile_id AND c.last_profile_id) AS n"
            " FROM rescore_chunks c WHERE c.run_id = $1 ORDER BY c.chunk_no",
            run,
        )
        assert [r["n"] for r in sizes] == [4, 3]
        empty = await rescore.add_run(conn, 1, "test")
        await conn.execute("DELETE FROM profiles")
        assert await rescore.fan_out(conn, empty, 3) == 0


async def test_swap_after_a_killed_swap_reuses_the_indexes_it_built(
    ctx: dict[str, Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        pid = await add_profile(conn, 52.52, 13.40)
        eid = await add_event(conn, 52.521, 13.401)
        run = await one_chunk_run(conn)
    await jobs.rescore_chunk(ctx, run, 0)
    # A swap job killed after its index builds, before the attach committed.
    await rescore_tables.index_parts(pool, run, 1)
    assert await pool.fetchval("SELECT to_regclass($1)", f"{part_name(run, 0)}_event") is not None
    assert await jobs.finish_rescore(ctx, run) is True
    assert set(await stored_matches(pool)) == {(pid, eid)}
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'matches'::regclass"
        )
        == 1
    )


async def index_oid(pool: asyncpg.Pool, name: str) -> int | None:
    return await pool.fetchval("SELECT to_regclass($1)::oid", name)


async def two_chunk_run(
    ctx: dict[str, Any], pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, list[int]]:
    """Four profiles near one event, fanned out by a weight change into two chunks:
    (the run, the profile ids)."""
    monkeypatch.setattr(jobs, "CHUNK_SIZE", 2)
    async with pool.acquire() as conn:
        people = [await add_profile(conn, 52.52 + i * 0.001, 13.40) for i in range(4)]
        await add_event(conn, 52.521, 13.401)
    box = await outbox_row(pool, "rescore", 1)
    assert await jobs.rescore_all(ctx, box, 1) == 2
    return await pool.fetchval("SELECT id FROM rescore_runs"), people


async def statistics_taken(pool: asyncpg.Pool, table: str) -> Any:
    """Which ANALYZE wrote `table`'s statistics (the transaction of its pg_statistic
    rows; each ANALYZE writes them anew), or None before any."""
    return await pool.fetchval(
        "SELECT min(xmin::text) FROM pg_statistic WHERE starelid = to_regclass($1)", table
    )


async def test_a_written_chunk_is_indexed_early_and_the_swap_keeps_that_index(
    ctx: dict[str, Any], pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = await two_chunk_run(ctx, pool, monkeypatch)
    await jobs.rescore_chunk(ctx, run, 0)
    # Chunk 0 was not the last: its index build went to the main queue, by a fixed id.
    queued = await ctx["redis"].zrange(ctx["settings"].queue_name, 0, -1)
    assert f"{ctx['settings'].redis_prefix}:rescore-index:{run}:0".encode() in queued
    part = part_name(run, 0)
    assert await index_oid(pool, f"{part}_pkey") is None
    assert await jobs.index_rescore_part(ctx, run, 0) is True
    early = (await index_oid(pool, f"{part}_pkey"), await index_oid(pool, f"{part}_event"))
    assert None not in early
    analyzed = await statistics_taken(pool, part)
    assert analyzed is not None  # the planner knows its rows before it is read
    assert await jobs.index_rescore_part(ctx, run, 0) is True  # a repeat builds nothing new
    assert (await index_oid(pool, f"{part}_pkey"), await index_oid(pool, f"{part}_event")) == early
    assert await statistics_taken(pool, part) == analyzed  # nor analyzes again

    await jobs.rescore_chunk(ctx, run, 1)
    assert await statistics_taken(pool, part_name(run, 1)) is None
    assert await jobs.finish_rescore(ctx, run) is True
    # The swap took what was missing: the last chunk's statistics; chunk 0's it kept.
    assert await statistics_taken(pool, part_name(run, 1)) is not None
    assert await statistics_taken(pool, part) == analyzed
    # The swap built chunk 1's indexes and kept chunk 0's: the same index, now the key.
    assert (await index_oid(pool, f"{part}_pkey"), await index_oid(pool, f"{part}_event")) == early
    assert (
        await pool.fetchval("SELECT conindid FROM pg_constraint WHERE conname = $1", f"{part}_pkey")
        == early[0]
    )
    assert_same_matches(await stored_matches(pool), await expected_matches(pool))
    # After the swap, a late early build changes nothing.
    assert await jobs.index_rescore_part(ctx, run, 0) is False


async def test_early_index_builds_skip_moot_runs_and_wait_for_each_other(
    ctx: dict[str, Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await add_profile(conn, 52.52, 13.40)
        await add_event(conn, 52.521, 13.401)
        old = await one_chunk_run(conn)
    await jobs.rescore_chunk(ctx, old, 0)
    async with pool.acquire() as conn:
        newer = await one_chunk_run(conn)
    # Superseded by a newer run: nothing built for the old one.
    assert await jobs.index_rescore_part(ctx, old, 0) is False
    assert await index_oid(pool, f"{part_name(old, 0)}_pkey") is None
    await jobs.rescore_chunk(ctx, newer, 0)
    # The early job and the swap's builds at once: one builds each index, neither fails.
    built, _ = await asyncio.gather(
        jobs.index_rescore_part(ctx, newer, 0), rescore_tables.index_parts(pool, newer, 1)
    )
    assert built is True
    assert await index_oid(pool, f"{part_name(newer, 0)}_event") is not None


async def test_swap_searches_only_partitions_that_lost_profiles(
    ctx: dict[str, Any], pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, people = await two_chunk_run(ctx, pool, monkeypatch)
    for chunk_no in (0, 1):
        await jobs.rescore_chunk(ctx, run, chunk_no)
    assert await pool.fetchval(
        "SELECT array_agg(profiles ORDER BY chunk_no) FROM rescore_chunks"
    ) == [2, 2]
    # Erased after its chunk read it; a profile created since lands above every range.
    await pool.execute("DELETE FROM profiles WHERE id = $1", people[3])
    async with pool.acquire() as conn:
        await add_profile(conn, 52.52, 13.40)
        async with conn.transaction():
            assert await rescore_tables.drop_gone(conn, run) == [1]
            left = await conn.fetch(
                f"SELECT profile_id FROM {part_name(run, 0)}"
                f" UNION SELECT profile_id FROM {part_name(run, 1)}"
            )
    assert {r[0] for r in left} == set(people[:3])
