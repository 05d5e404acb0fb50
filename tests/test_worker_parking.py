"""A job that keeps failing on one subject is tried a few times, then parked: logged with
ids only, counted in /v1/admin/stats and /metrics, and never enqueued again by the sweep,
so it cannot wedge a worker however often the worker restarts. Run by the real arq
Workers on the real database; the failure is PostgreSQL's own (a trigger this test adds
to its database refuses to mark that one event's work done).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY

from services.worker import cron, jobs, parking
from services.worker.metrics import sample_depths
from shared.queue import connect_queue, enqueue_outbox
from shared.settings import Settings
from tests.test_worker_jobs import add_event, add_profile, outbox_row

# `attempts` was committed before the run began, so it tells which run this is.
BREAK_EVENT = """
CREATE FUNCTION test_refuse_done() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.done_at IS NOT NULL AND NEW.kind = 'event' AND NEW.subject_id = {event}
       AND NEW.attempts <= {times} THEN
        RAISE EXCEPTION 'refused for this test';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_done BEFORE UPDATE ON outbox
FOR EACH ROW EXECUTE FUNCTION test_refuse_done();
"""


@pytest.fixture
async def breaker(pool: asyncpg.Pool) -> AsyncIterator[Callable[[int, int], Awaitable[None]]]:
    """`await breaker(event_id, times)`: the event's work fails its first `times` runs."""

    async def install(event_id: int, times: int) -> None:
        async with pool.acquire() as conn:
            await conn.execute(BREAK_EVENT.format(event=int(event_id), times=int(times)))

    yield install
    async with pool.acquire() as conn:
        await conn.execute("DROP TRIGGER IF EXISTS refuse_done ON outbox")
        await conn.execute("DROP FUNCTION IF EXISTS test_refuse_done()")


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pauses between tries are tuning, not behaviour: short, so the test is too.
    monkeypatch.setattr(parking, "RETRY_DEFER_S", (0.05, 0.05, 0.05))


async def outbox_state(pool: asyncpg.Pool, outbox_id: int) -> asyncpg.Record:
    row: asyncpg.Record = await pool.fetchrow(
        "SELECT attempts, parked_at, done_at, last_error FROM outbox WHERE id = $1", outbox_id
    )
    return row


async def city_of_one(pool: asyncpg.Pool) -> tuple[int, int]:
    async with pool.acquire() as conn:
        profile = await add_profile(conn, 52.52, 13.40)
        event = await add_event(conn, 52.5145, 13.4016)
    return profile, event


async def test_a_job_failing_every_time_is_parked_after_a_few_tries_and_never_swept_again(
    settings: Settings,
    pool: asyncpg.Pool,
    db_clean: None,
    breaker: Callable[[int, int], Awaitable[None]],
    quick_retries: None,
    drain_queue: Callable[[], Awaitable[int]],
    api: AsyncTestClient[Any],
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    profile, event = await city_of_one(pool)
    await breaker(event, 1000)
    box = await outbox_row(pool, "event", event)
    fine = await outbox_row(pool, "profile", profile)
    queue = connect_queue(settings)
    try:
        for kind, row, subject in (("event", box, event), ("profile", fine, profile)):
            assert await enqueue_outbox(queue, settings.redis_prefix, kind, row, subject)
        with caplog.at_level(logging.INFO, logger="lowkey.worker.jobs"):
            await drain_queue()
        state = await outbox_state(pool, box)
        assert state["attempts"] == parking.MAX_ATTEMPTS
        assert state["parked_at"] is not None and state["done_at"] is None
        assert state["last_error"] == "RaiseError"
        # The other work went through meanwhile: one broken subject holds nothing up.
        assert (await outbox_state(pool, fine))["done_at"] is not None

        parked = [r for r in caplog.records if "parked" in r.getMessage()]
        assert len(parked) == 1
        line = parked[0].__dict__
        assert (line["kind"], line["outbox_id"], line["subject_id"]) == ("event", box, event)
        assert "refused for this test" not in caplog.text  # an error's type, never its text

        # The sweep, long after, finds nothing to send again (a restart runs it at once).
        await pool.execute("UPDATE outbox SET enqueued_at = now() - interval '1 hour'")
        ctx = {"pool": pool, "redis": queue, "settings": settings}
        assert await cron.sweep_outbox(ctx) == 0
        assert await queue.zcard(settings.queue_name) == 0

        stats = (await api.get("/v1/admin/stats", headers=admin_headers)).json()
        assert stats["parked_jobs"] == 1
        assert stats["outbox_depth"] == 0  # parked work is not waiting to be done
        await sample_depths(ctx)
        assert REGISTRY.get_sample_value("lowkey_parked_jobs") == 1
        assert REGISTRY.get_sample_value("lowkey_outbox_depth") == 0
        assert (REGISTRY.get_sample_value("lowkey_jobs_parked_total", {"kind": "event"}) or 0) >= 1
    finally:
        await queue.aclose()


async def test_a_job_that_fails_once_is_tried_again_and_then_done(
    settings: Settings,
    pool: asyncpg.Pool,
    db_clean: None,
    breaker: Callable[[int, int], Awaitable[None]],
    quick_retries: None,
    drain_queue: Callable[[], Awaitable[int]],
) -> None:
    _, event = await city_of_one(pool)
    await breaker(event, 1)
    box = await outbox_row(pool, "event", event)
    queue = connect_queue(settings)
    try:
        assert await enqueue_outbox(queue, settings.redis_prefix, "event", box, event)
        await drain_queue()
    finally:
        await queue.aclose()
    state = await outbox_state(pool, box)
    assert state["attempts"] == 2 and state["parked_at"] is None
    assert state["done_at"] is not None
    assert await pool.fetchval("SELECT count(*) FROM matches WHERE event_id = $1", event) == 1


async def test_runs_that_never_reported_back_count_and_the_next_one_parks_without_working(
    settings: Settings, pool: asyncpg.Pool, db_clean: None
) -> None:
    """A run that hung its worker or was SIGKILLed counted before it started: after
    MAX_ATTEMPTS of those, the next run parks the row instead of trying again."""
    _, event = await city_of_one(pool)
    box = await outbox_row(pool, "event", event)
    queue = connect_queue(settings)
    ctx = {"pool": pool, "redis": queue, "settings": settings}
    try:
        # Counted as each of those runs did, before its work began.
        for _ in range(parking.MAX_ATTEMPTS):
            assert await parking.outbox.start_attempt(pool, box) is not None
        assert await jobs.score_event(ctx, box, event) == 0
    finally:
        await queue.aclose()
    state = await outbox_state(pool, box)
    assert state["parked_at"] is not None and state["last_error"] == "unfinished"
    assert await pool.fetchval("SELECT count(*) FROM matches") == 0
    # Parked: a run of it now (a copy still queued) does nothing and counts nothing.
    assert await parking.outbox.start_attempt(pool, box) is None


async def test_moot_parked_rows_are_pruned_once_later_work_on_the_subject_is_done(
    pool: asyncpg.Pool, db_clean: None
) -> None:
    from shared.db import outbox

    _, event = await city_of_one(pool)
    stuck = await outbox_row(pool, "event", event)
    other = await outbox_row(pool, "event", event + 1000)
    for row in (stuck, other):
        await outbox.park(pool, row, "RaiseError")
    later = await outbox_row(pool, "event", event)
    async with pool.acquire() as conn:
        await outbox.mark_done(conn, [later])
        assert await outbox.count_parked(conn) == 2
        await outbox.delete_old_done(conn)
        assert await outbox.count_parked(conn) == 1  # the other subject is still stuck
    assert await pool.fetchval("SELECT id FROM outbox WHERE parked_at IS NOT NULL") == other
