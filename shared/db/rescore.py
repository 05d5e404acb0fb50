"""SQL for full re-score runs and their chunks (profile id ranges): fan-out, progress,
completion, and finding chunks (or swaps) that were lost (enqueued long ago, never done).
"""

from __future__ import annotations

import asyncpg

# The run the API (or the nightly check) recorded with the outbox row: the newest of this
# version not fanned out yet. A run without one is created.
FIND_RUN = """
SELECT id FROM rescore_runs
WHERE weight_version = $1 AND finished_at IS NULL AND chunks_total = 0
ORDER BY id DESC LIMIT 1
FOR UPDATE
"""
INSERT_RUN = "INSERT INTO rescore_runs (weight_version, reason) VALUES ($1, $2) RETURNING id"
# Profile id ranges of about $1 profiles each, from the ids themselves (ids may be sparse),
# all the same size: 100 200 profiles are 4 chunks of 25 050, not 4 of 25 000 and a
# straggler of 200 that pays the per-event cost of a whole chunk at the end.
CHUNK_BOUNDS = """
SELECT min(id) AS first_id, max(id) AS last_id
FROM (
    SELECT id, ntile((SELECT greatest(1, round(count(*) / $1::numeric))::int FROM profiles))
        OVER (ORDER BY id) AS chunk
    FROM profiles
) AS p
GROUP BY chunk ORDER BY chunk
"""
INSERT_CHUNKS = """
INSERT INTO rescore_chunks (run_id, chunk_no, first_profile_id, last_profile_id, enqueued_at)
SELECT $1, n - 1, f, l, now() FROM unnest($2::bigint[], $3::bigint[]) WITH ORDINALITY AS t(f, l, n)
"""
SET_TOTAL = """
UPDATE rescore_runs SET chunks_total = $2,
    finished_at = CASE WHEN $2 = 0 THEN now() END
WHERE id = $1
"""
# clock_timestamp(): the swap's own second counts in how long the run took.
FINISH_RUN = """
UPDATE rescore_runs SET finished_at = clock_timestamp() WHERE id = $1 AND finished_at IS NULL
"""
CLAIM_CHUNK = """
SELECT c.first_profile_id, c.last_profile_id, c.done_at, r.weight_version
FROM rescore_chunks c JOIN rescore_runs r ON r.id = c.run_id
WHERE c.run_id = $1 AND c.chunk_no = $2
FOR UPDATE OF c
"""
GET_CHUNK = CLAIM_CHUNK.replace("FOR UPDATE OF c", "")
# Each chunk's partition: NULL below the first chunk and above the last (every id has a
# partition), else from its first id up to where the next chunk begins.
PART_BOUNDS = """
SELECT CASE WHEN chunk_no > 0 THEN first_profile_id END AS part_from,
    lead(first_profile_id) OVER (ORDER BY chunk_no) AS part_to
FROM rescore_chunks WHERE run_id = $1 ORDER BY chunk_no
"""
ERASED_SINCE = """
SELECT c.chunk_no FROM rescore_chunks c
WHERE c.run_id = $1 AND (c.profiles IS NULL OR c.profiles <> (
    SELECT count(*) FROM profiles p WHERE p.id BETWEEN c.first_profile_id AND c.last_profile_id
))
ORDER BY c.chunk_no
"""
OUTBOX_DONE = "SELECT done_at IS NOT NULL FROM outbox WHERE id = $1 FOR UPDATE"
# Answers whether that was the run's last chunk (the run then waits for its swap).
CHUNK_DONE = """
WITH c AS (
    UPDATE rescore_chunks SET done_at = now(), pairs = $3, matches = $4, profiles = $5
    WHERE run_id = $1 AND chunk_no = $2 AND done_at IS NULL
    RETURNING run_id
)
UPDATE rescore_runs r SET
    chunks_done = r.chunks_done + 1, pairs = r.pairs + $3, matches = r.matches + $4
FROM c WHERE r.id = c.run_id
RETURNING r.chunks_done >= r.chunks_total
"""
# Moot: another version is active, or a newer run exists (it re-scores everything anyway,
# and the active version may have changed and changed back meanwhile).
# Weights are applied at read, so a run's rows hold for any version: only a newer run
# makes its work moot.
SUPERSEDED = "SELECT EXISTS (SELECT 1 FROM rescore_runs WHERE id > $1)"
RUN_OPEN = "SELECT finished_at IS NULL FROM rescore_runs WHERE id = $1"
FANNED_OUT = "UPDATE rescore_runs SET fanned_out_at = clock_timestamp() WHERE id = $1"
# A run to swap in: every chunk done, not finished; locked so one worker swaps it.
CLAIM_COMPLETE_RUN = """
SELECT id, weight_version, fanned_out_at, chunks_total FROM rescore_runs
WHERE id = $1 AND finished_at IS NULL AND chunks_total > 0 AND chunks_done >= chunks_total
FOR UPDATE
"""
# Runs whose chunks are all done but whose swap did not happen (its worker was killed).
UNSWAPPED_RUNS = """
SELECT r.id FROM rescore_runs r
WHERE r.finished_at IS NULL AND r.chunks_total > 0 AND r.chunks_done >= r.chunks_total
  AND (SELECT max(c.done_at) FROM rescore_chunks c WHERE c.run_id = r.id)
      < now() - make_interval(secs => $1)
ORDER BY r.id
"""
# Chunks of unfinished runs enqueued longer ago than any run of one could take.
CLAIM_LOST_CHUNKS = """
SELECT c.run_id, c.chunk_no FROM rescore_chunks c JOIN rescore_runs r ON r.id = c.run_id
WHERE r.finished_at IS NULL AND c.done_at IS NULL
  AND (c.enqueued_at IS NULL OR c.enqueued_at < now() - make_interval(secs => $1))
ORDER BY c.run_id, c.chunk_no
LIMIT $2
FOR UPDATE OF c SKIP LOCKED
"""
MARK_CHUNK_ENQUEUED = """
UPDATE rescore_chunks SET enqueued_at = now() WHERE run_id = $1 AND chunk_no = $2
"""


async def run_for(conn: asyncpg.Connection, version: int, reason: str) -> int:
    """The not yet fanned-out run of this version (locked), or a new one."""
    run_id = await conn.fetchval(FIND_RUN, version)
    if run_id is None:
        run_id = await conn.fetchval(INSERT_RUN, version, reason)
    return int(run_id)


async def add_run(conn: asyncpg.Connection, version: int, reason: str) -> int:
    run_id: int = await conn.fetchval(INSERT_RUN, version, reason)
    return run_id


async def fan_out(conn: asyncpg.Connection, run_id: int, chunk_size: int) -> int:
    """Record the run's chunks; returns how many (0 finishes the run at once)."""
    bounds = await conn.fetch(CHUNK_BOUNDS, chunk_size)
    firsts = [b["first_id"] for b in bounds]
    lasts = [b["last_id"] for b in bounds]
    await conn.execute(INSERT_CHUNKS, run_id, firsts, lasts)
    await conn.execute(SET_TOTAL, run_id, len(bounds))
    return len(bounds)


async def index_wanted(conn: asyncpg.Connection, run_id: int) -> bool:
    """Whether the run still goes on (its partitions are worth indexing ahead of the
    swap): unfinished and not superseded."""
    return bool(await conn.fetchval(RUN_OPEN, run_id)) and not await superseded(conn, run_id)


async def finish_run(conn: asyncpg.Connection, run_id: int) -> None:
    await conn.execute(FINISH_RUN, run_id)


async def claim_chunk(
    conn: asyncpg.Connection, run_id: int, chunk_no: int
) -> asyncpg.Record | None:
    """The chunk's range and version, locked for this transaction (None: no such chunk)."""
    row: asyncpg.Record | None = await conn.fetchrow(CLAIM_CHUNK, run_id, chunk_no)
    return row


async def get_chunk(conn: asyncpg.Connection, run_id: int, chunk_no: int) -> asyncpg.Record | None:
    """The chunk's range, version and done_at, without a lock (for the read phase)."""
    row: asyncpg.Record | None = await conn.fetchrow(GET_CHUNK, run_id, chunk_no)
    return row


async def part_bounds(conn: asyncpg.Connection, run_id: int) -> list[tuple[int | None, int | None]]:
    """Each chunk's partition bounds (first id, next chunk's first id), by chunk number."""
    return [(r["part_from"], r["part_to"]) for r in await conn.fetch(PART_BOUNDS, run_id)]


async def outbox_done(conn: asyncpg.Connection, outbox_id: int) -> bool:
    """Lock the outbox row; True when it is done (or gone: erased work)."""
    done = await conn.fetchval(OUTBOX_DONE, outbox_id)
    return done is None or bool(done)


async def chunk_done(
    conn: asyncpg.Connection, run_id: int, chunk_no: int, *, pairs: int, matches: int, profiles: int
) -> bool:
    """Count the chunk into its run (once) with the profiles it scored; True when it was
    the run's last one."""
    complete = await conn.fetchval(CHUNK_DONE, run_id, chunk_no, pairs, matches, profiles)
    return bool(complete)


async def chunks_with_erased_profiles(conn: asyncpg.Connection, run_id: int) -> list[int]:
    """Chunks whose range holds another number of profiles now than the chunk scored:
    their partitions may hold rows of profiles erased since. (Ids only grow, so a new
    profile never lands in a chunk's range: an equal count means none was erased.) Call
    under a lock that keeps profiles from being deleted."""
    return [r[0] for r in await conn.fetch(ERASED_SINCE, run_id)]


async def superseded(conn: asyncpg.Connection, run_id: int) -> bool:
    """Whether the run's work is moot: a newer run exists."""
    return bool(await conn.fetchval(SUPERSEDED, run_id))


async def mark_fanned_out(conn: asyncpg.Connection, run_id: int) -> None:
    """Note the time, under the writers' lock (see shared/db/outbox.py REOPEN_DONE_SINCE)."""
    await conn.execute(FANNED_OUT, run_id)


async def claim_complete_run(conn: asyncpg.Connection, run_id: int) -> asyncpg.Record | None:
    """The run, locked, when all its chunks are done and it is not finished yet."""
    row: asyncpg.Record | None = await conn.fetchrow(CLAIM_COMPLETE_RUN, run_id)
    return row


async def unswapped_runs(conn: asyncpg.Connection, *, older_than_s: float) -> list[int]:
    return [r["id"] for r in await conn.fetch(UNSWAPPED_RUNS, older_than_s)]


async def claim_lost_chunks(
    conn: asyncpg.Connection, *, older_than_s: float, limit: int = 200
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(CLAIM_LOST_CHUNKS, older_than_s, limit)
    return rows


async def mark_chunk_enqueued(conn: asyncpg.Connection, run_id: int, chunk_no: int) -> None:
    await conn.execute(MARK_CHUNK_ENQUEUED, run_id, chunk_no)
