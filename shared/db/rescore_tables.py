"""SQL for a full re-score's own matches table: created at fan-out, filled by the chunks
with binary COPY (no index yet), indexed once, then swapped in for `matches`.

Why a fresh table: updating millions of rows in place (three indexes, a dead tuple per
row) costs tens of times a COPY; building two indexes once on sorted input costs seconds.
The swap itself is short: it drops rows of profiles or events deleted while the run
went on, carries over the matches of cancelled events (kept until over, never re-scored),
renames, and bumps `match_generation` (every feed re-renders once). Scoring jobs that ran
meanwhile wrote to the old table; shared/db/outbox.py re-opens them, run again on the new.
"""

from __future__ import annotations

import asyncio

import asyncpg

from shared.db.matches import copy_binary
from shared.match_copy import COLUMNS

# Autovacuum would scan the table while chunks fill it; the swap hands it back.
CREATE = "CREATE TABLE {t} (LIKE matches INCLUDING DEFAULTS) WITH (autovacuum_enabled = false)"
DROP = "DROP TABLE IF EXISTS {t}"
# Built at once on two connections (two cores); the sort for ~10 M rows fits in memory
# with a bit more than the default.
INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS {t}_pkey ON {t} (profile_id, event_id)",
    "CREATE INDEX IF NOT EXISTS {t}_event ON {t} (event_id)",
)
SORT_MEMORY = "SET LOCAL maintenance_work_mem = '256MB'"
ANALYZE = "ANALYZE {t}"
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
DELETE_GONE = f"""
DELETE FROM {{t}} r WHERE r.profile_id IN (
    SELECT id FROM ({_DISTINCT.format(col="profile_id")}) AS d
    WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.id = d.id)
);
DELETE FROM {{t}} r WHERE r.event_id IN (
    SELECT id FROM ({_DISTINCT.format(col="event_id")}) AS d
    WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = d.id AND e.status = 'scheduled')
);
"""  # noqa: S608 (constant text)
_ALL = ", ".join(COLUMNS)
_ALL_OF_M = ", ".join(f"m.{c}" for c in COLUMNS)
CARRY_CANCELLED = f"""
INSERT INTO {{t}} ({_ALL}, scored_at)
SELECT {_ALL_OF_M}, m.scored_at
FROM matches m JOIN events e ON e.id = m.event_id
WHERE e.status = 'cancelled'
ON CONFLICT (profile_id, event_id) DO NOTHING
"""  # noqa: S608
# NOT VALID: the rows were just checked against profiles and events under the locks above,
# so PostgreSQL need not scan them again; the cascades hold from here on.
SWAP = """
DROP TABLE matches;
ALTER TABLE {t} RENAME TO matches;
ALTER INDEX {t}_pkey RENAME TO matches_pkey;
ALTER TABLE matches ADD CONSTRAINT matches_pkey PRIMARY KEY USING INDEX matches_pkey;
ALTER INDEX {t}_event RENAME TO matches_event;
ALTER TABLE matches ADD CONSTRAINT matches_profile_id_fkey FOREIGN KEY (profile_id)
    REFERENCES profiles (id) ON DELETE CASCADE NOT VALID;
ALTER TABLE matches ADD CONSTRAINT matches_event_id_fkey FOREIGN KEY (event_id)
    REFERENCES events (id) ON DELETE CASCADE NOT VALID;
ALTER TABLE matches RESET (autovacuum_enabled);
UPDATE match_generation SET generation = generation + 1, swapped_at = now();
"""


def table_name(run_id: int) -> str:
    """The run's table; run ids are integers, so the name needs no quoting."""
    return f"matches_run_{int(run_id)}"


async def create(conn: asyncpg.Connection, run_id: int) -> None:
    await conn.execute(CREATE.format(t=table_name(run_id)))


async def drop(conn: asyncpg.Connection, run_id: int) -> None:
    await conn.execute(DROP.format(t=table_name(run_id)))


async def copy_rows(conn: asyncpg.Connection, run_id: int, payload: bytes) -> None:
    """Append a binary COPY payload (shared.match_copy.encode) to the run's table."""
    await copy_binary(conn, table_name(run_id), payload)


async def build_indexes(pool: asyncpg.Pool, table: str) -> None:
    """Index a filled run table (safe to repeat) and gather its planner statistics."""

    async def build(statement: str) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(SORT_MEMORY)
            await conn.execute(statement.format(t=table))

    await asyncio.gather(*(build(statement) for statement in INDEXES))
    async with pool.acquire() as conn:
        await conn.execute(ANALYZE.format(t=table))


async def lock_live_tables(conn: asyncpg.Connection, *, timeout_ms: int) -> None:
    """Lock what the swap changes, in the caller's transaction. Raises
    asyncpg.LockNotAvailableError after `timeout_ms` (the transaction is then aborted)."""
    await conn.execute(LOCK_TABLES.format(timeout_ms=int(timeout_ms)))


async def swap_in(conn: asyncpg.Connection, run_id: int) -> None:
    """Make the run's table `matches` (caller holds the writers' lock and the table locks)."""
    t = table_name(run_id)
    await conn.execute(DELETE_GONE.format(t=t))
    await conn.execute(CARRY_CANCELLED.format(t=t))
    await conn.execute(SWAP.format(t=t))
