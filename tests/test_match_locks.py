"""Writers of matches lock profiles in one ordered set per transaction, so concurrent
writers (a scoring job, an event's edit, a delete) wait for one another but never
deadlock. Each test stages, on a real PostgreSQL, the interleaving that deadlocked when a
job bumped its profiles in two statements (its upsert, then its delete of the rest).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from shared.db.events import delete_event, get_event
from shared.db.matches import upsert_pairs, write_event_matches
from shared.scoring import PairScore
from tests.factories import create_organiser, post_event
from tests.weighing import parts_scoring

WAITING_FOR_LOCK = """
SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND datname = current_database() AND ($1::int IS NULL OR pid = $1)
"""


def pair(event_id: int, score: float = 0.8) -> PairScore:
    return parts_scoring(event_id, score, "board games · small, structured group · free")


async def new_profile(conn: asyncpg.Connection, n: int) -> int:
    profile_id: int = await conn.fetchval(
        "INSERT INTO profiles (token_hash, feed_token_hash, feed_token_sealed, home_lat,"
        " home_lon, radius_km, comfort_level, interests, timezone) VALUES"
        " ($1, $2, '\\x00', 52.52, 13.40, 5, 3, '{\"board-games\": 0.8}', 'Europe/Berlin')"
        " RETURNING id",
        bytes([n, 1]),
        bytes([n, 2]),
    )
    return profile_id


async def wait_until_blocked(pool: asyncpg.Pool, pid: int | None) -> None:
    """Until backend `pid` (None: any in this database) waits for a lock."""
    for _ in range(250):
        if await pool.fetchval(WAITING_FOR_LOCK, pid):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("nothing waited for a lock within 5 s")


async def other_side_locks(conn: asyncpg.Connection, profile_id: int) -> None:
    """A concurrent bump's second lock (one ordered statement, as the trigger takes them)."""
    await conn.execute("SET LOCAL lock_timeout = '4s'")
    await conn.execute(
        "UPDATE profiles SET matches_version = matches_version + 1 WHERE id = $1", profile_id
    )


async def staged(
    pool: asyncpg.Pool, low: int, high: int, write: Any
) -> tuple[BaseException | None, BaseException | None]:
    """The other side holds `low`; the job's write starts; the other side then wants
    `high`. A job that had already locked `high` in an earlier statement deadlocks here."""
    async with pool.acquire() as other, pool.acquire() as job:
        job_pid = await job.fetchval("SELECT pg_backend_pid()")
        other_tx = other.transaction()
        await other_tx.start()
        await other.execute(
            "UPDATE profiles SET matches_version = matches_version + 1 WHERE id = $1", low
        )

        async def job_side() -> None:
            async with job.transaction():
                await write(job)

        job_task = asyncio.create_task(job_side())
        await wait_until_blocked(pool, job_pid)
        other_error: BaseException | None = None
        try:
            await other_side_locks(other, high)
            await other_tx.commit()
        except asyncpg.PostgresError as exc:
            other_error = exc
            await other_tx.rollback()
        job_error = (await asyncio.gather(job_task, return_exceptions=True))[0]
        return other_error, job_error if isinstance(job_error, BaseException) else None


async def test_an_event_job_upserting_one_profile_and_dropping_another_never_deadlocks(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    _, key = await create_organiser(api, admin_headers)
    event = (await post_event(api, key))["id"]
    async with pool.acquire() as conn:
        low, high = await new_profile(conn, 1), await new_profile(conn, 2)
        await upsert_pairs(conn, [(low, pair(event)), (high, pair(event))])

    # The job: `high` stays (its score changes), `low` is no longer eligible.
    async def write(conn: asyncpg.Connection) -> None:
        await write_event_matches(conn, event, [(high, pair(event, 0.6))])

    other_error, job_error = await staged(pool, low, high, write)
    assert other_error is None and job_error is None, (other_error, job_error)
    rows = await pool.fetch(
        "SELECT profile_id, interest_score FROM matches WHERE event_id = $1", event
    )
    assert [(r["profile_id"], round(r["interest_score"], 3)) for r in rows] == [(high, 0.2)]
    versions = await pool.fetch(
        "SELECT id, matches_version FROM profiles WHERE id = ANY($1) ORDER BY id", [low, high]
    )
    # Each: the first upsert, the other side, then the job (its row changed or went).
    assert [r["matches_version"] for r in versions] == [3, 3]


async def test_deleting_an_event_while_its_job_writes_never_deadlocks(
    api: AsyncTestClient[Any], admin_headers: dict[str, str], pool: asyncpg.Pool
) -> None:
    _, key = await create_organiser(api, admin_headers)
    event = (await post_event(api, key))["id"]
    async with pool.acquire() as conn:
        low, high = await new_profile(conn, 5), await new_profile(conn, 6)
        await upsert_pairs(conn, [(low, pair(event)), (high, pair(event))])

    async def delete() -> bool:  # what DELETE /v1/events/{id} runs in its transaction
        async with pool.acquire() as conn, conn.transaction():
            assert await get_event(conn, event, for_delete=True) is not None
            return await delete_event(conn, event)

    async with pool.acquire() as job:
        tx = job.transaction()
        await tx.start()
        # A scoring job for the event: the row FOR KEY SHARE, then its one bump.
        await job.execute("SELECT id FROM events WHERE id = $1 FOR KEY SHARE", event)
        deleting = asyncio.create_task(delete())
        await wait_until_blocked(pool, None)  # the delete waits for the job's row lock
        await write_event_matches(job, event, [(high, pair(event, 0.7))])
        await tx.commit()
    assert await asyncio.wait_for(deleting, 10) is True
    assert await pool.fetchval("SELECT count(*) FROM matches WHERE event_id = $1", event) == 0
    versions = await pool.fetch(
        "SELECT matches_version FROM profiles WHERE id = ANY($1) ORDER BY id", [low, high]
    )
    assert [r["matches_version"] for r in versions] == [2, 3]  # upsert, job (high), delete
