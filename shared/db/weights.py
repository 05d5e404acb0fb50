"""SQL for weight versions, the active version, and the last re-score run (the nightly
consistency job's; a change of weights starts none: they are applied where matches are
read, shared/db/weighing.py).

A change (new version or re-activation) locks the `active_weights` row first, so two
admins saving at once get consecutive versions instead of a clash.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from shared.models.weights import RescoreRun, WeightsUpdate, WeightVersion
from shared.scoring import Weights

_COLUMNS = """
    w.version, w.distance, w.interest, w.comfort, w.distance_decay_km, w.online_score,
    w.stretch_penalty, w.min_score, w.support, w.together_bonus, w.note, w.author, w.created_at,
    (a.version IS NOT NULL) AS active
"""
SELECT_ACTIVE = f"""
SELECT {_COLUMNS} FROM active_weights a JOIN weight_versions w ON w.version = a.version
"""  # noqa: S608 (constant column list)
SELECT_ONE = f"""
SELECT {_COLUMNS} FROM weight_versions w LEFT JOIN active_weights a ON a.version = w.version
WHERE w.version = $1
"""  # noqa: S608
SELECT_HISTORY = f"""
SELECT {_COLUMNS} FROM weight_versions w LEFT JOIN active_weights a ON a.version = w.version
WHERE $1::integer IS NULL OR w.version < $1
ORDER BY w.version DESC
LIMIT $2
"""  # noqa: S608
LOCK_ACTIVE = "SELECT version FROM active_weights FOR UPDATE"
INSERT_VERSION = """
INSERT INTO weight_versions
    (version, distance, interest, comfort, distance_decay_km, online_score,
     stretch_penalty, min_score, support, together_bonus, note, author)
SELECT coalesce(max(version), 0) + 1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
FROM weight_versions
RETURNING version
"""
# What every feed shows moves with the weights: the generation is in every feed's cache
# key (shared/db/feeds.py), so each renders again at its next poll.
SET_ACTIVE = """
WITH bumped AS (UPDATE match_generation SET generation = generation + 1)
UPDATE active_weights SET version = $1, activated_at = now()
"""
SELECT_LAST_RUN = """
SELECT weight_version AS version, reason, started_at, finished_at,
       extract(epoch FROM finished_at - started_at)::float8 AS duration_s,
       chunks_done, chunks_total
FROM rescore_runs
ORDER BY started_at DESC, id DESC
LIMIT 1
"""


def _version(row: asyncpg.Record) -> WeightVersion:
    return msgspec.convert(dict(row), WeightVersion)


async def active_version(conn: asyncpg.Connection) -> WeightVersion:
    row = await conn.fetchrow(SELECT_ACTIVE)
    assert row is not None, "migration 0001 seeds the active version"
    return _version(row)


async def active_weights(conn: asyncpg.Connection) -> tuple[int, Weights]:
    version = await active_version(conn)
    return version.version, version.to_weights()


async def get_version(conn: asyncpg.Connection, version: int) -> WeightVersion | None:
    row = await conn.fetchrow(SELECT_ONE, version)
    return None if row is None else _version(row)


async def history(
    conn: asyncpg.Connection, *, before: int | None, limit: int
) -> list[WeightVersion]:
    """Newest first; `before` is the keyset cursor (versions below it)."""
    return [_version(r) for r in await conn.fetch(SELECT_HISTORY, before, limit)]


async def lock_active(conn: asyncpg.Connection) -> int:
    """Lock the active-version row for this transaction; returns the active version."""
    version: int = await conn.fetchval(LOCK_ACTIVE)
    return version


async def insert_version(conn: asyncpg.Connection, update: WeightsUpdate) -> int:
    """A new version numbered after the highest (call under `lock_active`); weights the
    update leaves out are the active version's."""
    weights = update.to_weights((await active_version(conn)).to_weights())
    args: list[Any] = [
        weights.distance,
        weights.interest,
        weights.comfort,
        weights.distance_decay_km,
        weights.online_score,
        weights.stretch_penalty,
        weights.min_score,
        weights.support,
        weights.together_bonus,
        update.note.strip(),
        update.author.strip() if update.author else None,
    ]
    version: int = await conn.fetchval(INSERT_VERSION, *args)
    return version


async def set_active(conn: asyncpg.Connection, version: int) -> None:
    await conn.execute(SET_ACTIVE, version)


async def last_rescore_run(conn: asyncpg.Connection) -> RescoreRun | None:
    row = await conn.fetchrow(SELECT_LAST_RUN)
    return None if row is None else msgspec.convert(dict(row), RescoreRun)
