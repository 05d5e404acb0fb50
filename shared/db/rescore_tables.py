"""SQL for a full re-score's own matches table: a parent partitioned by profile id range,
created at fan-out; each chunk writes its rows into a partition of its own (binary COPY);
each is indexed early by a job of its own (or by the swap); the swap attaches them and
makes the parent `matches`.

Why a fresh table: updating millions of rows in place (indexes, a dead tuple per row)
costs tens of times a COPY. Why a partition per chunk: the rows go in frozen (COPY FREEZE
needs a table created in the same transaction, so the index builds' scans do not rewrite
every page to set hint bits), and a chunk's two million rows sort in memory. The indexes
are built by a job of their own as soon as the chunk is in (it runs beside the worker's
next chunk: PostgreSQL sorts on one core while the worker scores on the other); the swap
job builds whatever is still missing, two at a time. The swap is short: it drops rows of
profiles or events deleted while the run went on, carries over the matches of cancelled
events (kept until over, never re-scored) and of events over (kept a week), gives each
partition its foreign keys,
renames, and bumps `match_generation` (every feed re-renders once). Scoring jobs that ran
meanwhile wrote to the old table; shared/db/outbox.py re-opens them, and they run again on
the new one.

Partitions tile every id: chunk 0 starts at MINVALUE, the last ends at MAXVALUE, and each
other one ends where the next begins, so a profile created later always has a home.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from shared.db import rescore
from shared.db.matches import COLUMNS, copy_binary

# The parent and its partitioned indexes, empty: created in no time.
CREATE = """
CREATE TABLE {t} (LIKE matches INCLUDING DEFAULTS) PARTITION BY RANGE (profile_id);
ALTER TABLE {t} ADD CONSTRAINT {t}_pkey PRIMARY KEY (profile_id, event_id);
CREATE INDEX {t}_event ON {t} (event_id);
"""
DROP = "DROP TABLE IF EXISTS {t}"
# The CHECK states the partition's bound, so ATTACH need not scan the rows to prove it.
CREATE_PART = """
CREATE TABLE {p} (LIKE matches INCLUDING DEFAULTS, CONSTRAINT {p}_range CHECK ({check}))
WITH (autovacuum_enabled = false)
"""
# A chunk's two million rows sort in memory with a bit more than the default. Safe to
# repeat; each build holds its partition's advisory lock (the two-int4 key space is this
# module's alone), so the early job and the swap never build the same index at once.
INDEX_PART = (
    "CREATE UNIQUE INDEX IF NOT EXISTS {p}_pkey ON {p} (profile_id, event_id)",
    "CREATE INDEX IF NOT EXISTS {p}_event ON {p} (event_id)",
)
SORT_MEMORY = "SET LOCAL maintenance_work_mem = '256MB'"
LOCK_PART = "SELECT pg_advisory_xact_lock($1::int, $2::int)"
PART_EXISTS = "SELECT to_regclass($1) IS NOT NULL"
# Statistics are taken once the indexes are built, before the partition is attached: with
# none, the planner took a user's ~90 rows for ~11 000 and hashed every event and every
# explanation to list them (12 ms where 1.8 ms do), until autovacuum came by minutes
# later. ~0.15 s for two million rows (a sample). Autovacuum takes the partitions from
# here; frozen rows give its VACUUM nothing to rewrite.
ANALYZE_PART = "ANALYZE {p}"
HAS_STATISTICS = "SELECT EXISTS (SELECT FROM pg_statistic WHERE starelid = to_regclass($1))"
ATTACH_PART = """
ALTER TABLE {p} ADD CONSTRAINT {p}_pkey PRIMARY KEY USING INDEX {p}_pkey;
ALTER TABLE {p} RESET (autovacuum_enabled);
ALTER TABLE {t} ATTACH PARTITION {p} FOR VALUES FROM ({low}) TO ({high});
"""
PARTS = """
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = to_regclass($1)
ORDER BY c.relname
"""
# The swap waits for these briefly and gives up rather than queue behind long readers
# (the caller retries); taken in one order (events, profiles, matches), as every writer
# that touches several of them does, so waiting for one never holds another.
LOCK_TABLES = """
SET LOCAL lock_timeout = '{timeout_ms}ms';
LOCK TABLE events, profiles IN SHARE ROW EXCLUSIVE MODE;
LOCK TABLE matches IN ACCESS EXCLUSIVE MODE;
"""
# Distinct ids by walking the index (a loose index scan): 100 k probes, not 10 M rows.
_DISTINCT = """
WITH RECURSIVE ids AS (
    (SELECT {col} AS id FROM {{t}} ORDER BY {col} LIMIT 1)
    UNION ALL
    SELECT (SELECT r.{col} FROM {{t}} r WHERE r.{col} > ids.id ORDER BY r.{col} LIMIT 1)
    FROM ids WHERE ids.id IS NOT NULL
)
SELECT id FROM ids WHERE id IS NOT NULL
"""
# Profiles: only in the partitions of chunks that lost some (rescore.py says which).
DELETE_ERASED_PROFILES = f"""
DELETE FROM {{t}} r WHERE r.profile_id IN (
    SELECT id FROM ({_DISTINCT.format(col="profile_id")}) AS d
    WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = d.id)
)
"""  # noqa: S608 (constant text)
DELETE_GONE_EVENTS = f"""
DELETE FROM {{t}} r WHERE r.event_id IN (
    SELECT id FROM ({_DISTINCT.format(col="event_id")}) AS d
    WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = d.id AND e.status = 'scheduled')
);
"""  # noqa: S608 (constant text)
_ALL = ", ".join(COLUMNS)
_ALL_OF_M = ", ".join(f"m.{c}" for c in COLUMNS)
CARRY_CANCELLED = f"""
INSERT INTO {{t}} ({_ALL}, kept, scored_at)
SELECT {_ALL_OF_M}, m.kept, m.scored_at
FROM matches m JOIN events e ON e.id = m.event_id
WHERE e.status = 'cancelled' OR e.over_at <= now()
ON CONFLICT (profile_id, event_id) DO NOTHING
"""  # noqa: S608
SWAP = """
DROP TABLE matches;
ALTER TABLE {t} RENAME TO matches;
ALTER TABLE matches RENAME CONSTRAINT {t}_pkey TO matches_pkey;
ALTER INDEX {t}_event RENAME TO matches_event;
UPDATE match_generation SET generation = generation + 1, swapped_at = now();
"""
# NOT VALID: the rows were just checked against profiles and events under the locks
# above, so PostgreSQL need not scan them again; the cascades hold from here on.
PART_KEYS = """
ALTER TABLE {p}
    ADD CONSTRAINT {p}_profile_fkey FOREIGN KEY (profile_id)
        REFERENCES profiles (id) ON DELETE CASCADE NOT VALID,
    ADD CONSTRAINT {p}_event_fkey FOREIGN KEY (event_id)
        REFERENCES events (id) ON DELETE CASCADE NOT VALID
"""


def table_name(run_id: int) -> str:
    """The run's table; run ids are integers, so the name needs no quoting."""
    return f"matches_run_{int(run_id)}"


def part_name(run_id: int, chunk_no: int) -> str:
    """A chunk's partition; named apart from run tables, as it outlives its run's name."""
    return f"matches_part_{int(run_id)}_{int(chunk_no)}"


def _bounds(first_id: int | None, next_first_id: int | None) -> tuple[str, str, str]:
    """(FROM, TO, CHECK) of a partition from its first id (None: the lowest chunk) and
    the next chunk's first id (None: the highest)."""
    low = "MINVALUE" if first_id is None else str(int(first_id))
    high = "MAXVALUE" if next_first_id is None else str(int(next_first_id))
    checks = [f"profile_id >= {low}"] if first_id is not None else []
    checks += [f"profile_id < {high}"] if next_first_id is not None else []
    return low, high, " AND ".join(checks) or "true"


async def create(conn: asyncpg.Connection, run_id: int) -> None:
    await conn.execute(CREATE.format(t=table_name(run_id)))


async def drop(conn: asyncpg.Connection, run_id: int, chunk_count: int) -> None:
    """Drop the run's table and its partitions, attached or not."""
    names = [table_name(run_id), *(part_name(run_id, n) for n in range(chunk_count))]
    await conn.execute(DROP.format(t=", ".join(names)))


async def write_part(
    conn: asyncpg.Connection,
    run_id: int,
    chunk_no: int,
    *,
    first_id: int | None,
    next_first_id: int | None,
    payload: memoryview | None,
) -> None:
    """Create the chunk's partition (not attached yet) and fill it with a binary COPY
    payload (shared.match_copy.encode; None: no rows). Call inside the chunk's
    transaction: FREEZE needs the table created in it."""
    part, check = part_name(run_id, chunk_no), _bounds(first_id, next_first_id)[2]
    await conn.execute(CREATE_PART.format(p=part, check=check))
    if payload is not None:
        await copy_binary(conn, part, payload, freeze=True)


async def _build(conn: asyncpg.Connection, run_id: int, chunk_no: int, statement: str) -> None:
    """One index of a chunk's partition, in its own transaction, under the part's lock;
    nothing when the partition is gone (its run was dropped)."""
    part = part_name(run_id, chunk_no)
    async with conn.transaction():
        await conn.execute(LOCK_PART, run_id, chunk_no)
        if await conn.fetchval(PART_EXISTS, part):
            await conn.execute(SORT_MEMORY)
            await conn.execute(statement.format(p=part))


async def _analyze(conn: asyncpg.Connection, run_id: int, chunk_no: int) -> None:
    """A chunk's partition's statistics, unless taken already (the early job and the swap
    both come here), under the part's lock; nothing when the partition is gone."""
    part = part_name(run_id, chunk_no)
    async with conn.transaction():
        await conn.execute(LOCK_PART, run_id, chunk_no)
        if await conn.fetchval(PART_EXISTS, part) and not await conn.fetchval(HAS_STATISTICS, part):
            await conn.execute(ANALYZE_PART.format(p=part))


async def index_part(conn: asyncpg.Connection, run_id: int, chunk_no: int) -> None:
    """Build a chunk's partition's two indexes and take its statistics (ahead of the
    swap)."""
    for statement in INDEX_PART:
        await _build(conn, run_id, chunk_no, statement)
    await _analyze(conn, run_id, chunk_no)


async def index_parts(pool: asyncpg.Pool, run_id: int, chunk_count: int) -> None:
    """Build every partition's indexes not built yet and take the statistics not taken,
    two at a time (waiting for builds under way elsewhere)."""
    todo = [(n, statement) for n in range(chunk_count) for statement in (*INDEX_PART, None)]

    async def builder() -> None:
        async with pool.acquire() as conn:
            while todo:
                chunk_no, statement = todo.pop(0)
                if statement is None:  # its indexes are queued before: statistics last
                    await _analyze(conn, run_id, chunk_no)
                else:
                    await _build(conn, run_id, chunk_no, statement)

    await asyncio.gather(builder(), builder())


async def attach_parts(
    conn: asyncpg.Connection, run_id: int, bounds: Sequence[tuple[int | None, int | None]]
) -> None:
    """Attach the indexed partitions (`bounds[n]`: chunk n's first id and the next
    chunk's) to the run's table, in the caller's transaction; attached ones are skipped."""
    t = table_name(run_id)
    attached = {r["relname"] for r in await conn.fetch(PARTS, t)}
    for chunk_no, (first_id, next_first_id) in enumerate(bounds):
        part = part_name(run_id, chunk_no)
        if part not in attached:
            low, high, _ = _bounds(first_id, next_first_id)
            await conn.execute(ATTACH_PART.format(p=part, t=t, low=low, high=high))


async def lock_live_tables(conn: asyncpg.Connection, *, timeout_ms: int) -> None:
    """Lock what the swap changes, in the caller's transaction. Raises
    asyncpg.LockNotAvailableError after `timeout_ms` (the transaction is then aborted)."""
    await conn.execute(LOCK_TABLES.format(timeout_ms=int(timeout_ms)))


async def drop_gone(conn: asyncpg.Connection, run_id: int) -> list[int]:
    """Delete the run's rows of events deleted or cancelled, and of profiles erased, since
    its chunks read them (caller holds the table locks); returns the chunks whose
    partitions were searched for erased profiles."""
    await conn.execute(DELETE_GONE_EVENTS.format(t=table_name(run_id)))
    searched = await rescore.chunks_with_erased_profiles(conn, run_id)
    for chunk_no in searched:
        await conn.execute(DELETE_ERASED_PROFILES.format(t=part_name(run_id, chunk_no)))
    return searched


async def carry_cancelled(conn: asyncpg.Connection, run_id: int) -> None:
    """Copy the matches of cancelled events (kept until over) and of events over (kept
    while their week's feed slots are theirs, shared/db/matches.py) into the run's table."""
    await conn.execute(CARRY_CANCELLED.format(t=table_name(run_id)))


async def swap_in(conn: asyncpg.Connection, run_id: int) -> None:
    """Make the run's table `matches` (caller holds the writers' lock and the table locks,
    and has dropped the gone and carried the cancelled)."""
    t = table_name(run_id)
    parts = [r["relname"] for r in await conn.fetch(PARTS, t)]
    await conn.execute(SWAP.format(t=t))
    for part in parts:
        await conn.execute(PART_KEYS.format(p=part))
