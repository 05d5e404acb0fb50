"""The scoring jobs: one event, one profile, a full re-score's fan-out, chunks and swap.

Thin: load -> score (shared.scoring / shared.bulk_scoring) -> write, the write and the
outbox row's "done" in one transaction. Every job is idempotent: it recomputes its
subject from what is stored now, so running it twice, or twice at once, changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from arq import Retry
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from services.worker.metrics import measured
from services.worker.parking import counted_tries
from shared import bulk_scoring, jobs, match_copy
from shared.db import candidates, rescore, rescore_tables
from shared.db import matches as db_matches
from shared.db import scoring_inputs as inputs
from shared.db.outbox import mark_done, reopen_done_since
from shared.geodesy import distances_km
from shared.occurrences import is_over
from shared.queue import enqueue_after_commit
from shared.scoring import PairScore, ScoringEvent, ScoringProfile, score_pair
from shared.settings import Settings

log = logging.getLogger("lowkey.worker.jobs")

# Short timeouts: arq re-runs a killed job only after the longest timeout + 10 s.
SCORE_TIMEOUT_S = 15
RESCORE_ALL_TIMEOUT_S = 15
CHUNK_TIMEOUT_S = 30
# A partition's two index builds (~2 M rows: a second or two); no longer than the other
# jobs of the main queue, so its re-run delay does not grow.
INDEX_TIMEOUT_S = 15
# Indexing every chunk's partition (~10 M rows) and the swap; only the chunk queue's
# Worker runs it, so only that Worker's re-run delay for a killed job grows with it.
FINISH_TIMEOUT_S = 60
# The swap waits this long for its table locks, this many times, before the job is
# retried. First under PostgreSQL's deadlock_timeout (1 s): a request queued behind the
# swap's locks while holding one the swap waits for would otherwise be chosen as the
# deadlock's victim (a 503), and this way the swap gives up first. Then longer than it:
# only a waiter that long makes an autovacuum of the table give way.
SWAP_LOCK_WAITS_MS = (500,) * 6 + (2_000,) * 4
# Profiles per re-score chunk. The bulk scorer's cost is mostly per event (2 500 profiles
# x 5 000 events: 0.75 s; 10 000 x 5 000: 1.1 s), and each chunk stores its distinct
# explanation texts, so chunks are big: the benchmark city is 4 chunks of ~2 M rows, a
# few seconds each, well inside the timeout, and enough for several workers to share.
CHUNK_SIZE = 25_000
# Failures that a later try heals: lock conflicts, a row deleted under us, a lost server.
TRANSIENT = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.ForeignKeyViolationError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    OSError,
)


@contextlib.asynccontextmanager
async def retry_transient() -> AsyncIterator[None]:
    try:
        yield
    except TRANSIENT as exc:
        log.warning("job will be retried", extra={"error": type(exc).__name__})
        raise Retry(defer=1) from exc


def pairs_for_event(
    event: ScoringEvent, profiles: Sequence[ScoringProfile], now: datetime
) -> list[tuple[int, PairScore]]:
    """Exact geodesic (pyproj, Karney's algorithm) and the pure scoring for one event."""
    km: list[float | None] = [None] * len(profiles)
    if event.lat is not None and event.lon is not None and profiles:
        km = distances_km(
            [p.home_lat for p in profiles], [p.home_lon for p in profiles], event.lat, event.lon
        ).tolist()
    out = []
    for profile, d in zip(profiles, km, strict=True):
        scored = score_pair(profile, event, d, now=now)
        if scored is not None:
            out.append((profile.id, scored))
    return out


def pairs_for_profile(
    profile: ScoringProfile, events: Sequence[ScoringEvent], now: datetime
) -> list[tuple[int, PairScore]]:
    venues = [(e.id, e.lat, e.lon) for e in events if e.lat is not None and e.lon is not None]
    km_by_event: dict[int, float] = {}
    if venues:
        ids, lats, lons = zip(*venues, strict=True)
        km = distances_km(profile.home_lat, profile.home_lon, lats, lons)
        km_by_event = dict(zip(ids, km.tolist(), strict=True))
    out = []
    for event in events:
        scored = score_pair(profile, event, km_by_event.get(event.id), now=now)
        if scored is not None:
            out.append((profile.id, scored))
    return out


@measured
@counted_tries("event", SCORE_TIMEOUT_S)
async def score_event(ctx: dict[str, Any], outbox_id: int, event_id: int) -> int:
    """(Re-)score one event against the profiles that can reach it; returns how many
    eligible pairs it stored."""
    now = datetime.now(UTC)
    async with retry_transient(), ctx["pool"].acquire() as conn, conn.transaction():
        await db_matches.lock_writers(conn)
        found = await inputs.load_event(conn, event_id)
        pairs: list[tuple[int, PairScore]] = []
        if found is None:
            pass  # deleted: its matches went with it (cascade)
        elif is_over(found[0], now):
            await db_matches.drop_event_matches(conn, event_id)
        elif found[0].status == "scheduled":
            event = found[0]
            ids = await candidates.profiles_for_event(
                conn,
                event.lat if event.format != "online" else None,
                event.lon if event.format != "online" else None,
                online=event.format in ("online", "hybrid"),
            )
            profiles = await inputs.load_profiles(conn, ids)
            pairs = pairs_for_event(event, profiles, now)
            await db_matches.write_event_matches(conn, event_id, pairs)
        else:
            # Cancelled: its matches now stay (the event's status flags them), the rest
            # go, and none are added.
            await db_matches.keep_cancelled_matches(conn, event_id)
        await mark_done(conn, [outbox_id])
    return len(pairs)


@measured
@counted_tries("profile", SCORE_TIMEOUT_S)
async def score_profile(ctx: dict[str, Any], outbox_id: int, profile_id: int) -> int:
    """(Re-)score one profile against the live events within its reach; returns how many
    eligible pairs it stored."""
    now = datetime.now(UTC)
    async with retry_transient(), ctx["pool"].acquire() as conn, conn.transaction():
        await db_matches.lock_writers(conn)
        loaded = await inputs.load_profiles(conn, [profile_id])
        pairs: list[tuple[int, PairScore]] = []
        if loaded:  # an erased profile's matches went with it
            profile = loaded[0]
            ids = await candidates.events_for_profile(
                conn,
                profile.home_lat,
                profile.home_lon,
                profile.radius_km,
                in_person="in_person" in profile.formats,
                online="online" in profile.formats,
                now=now,
            )
            events = await inputs.load_events(conn, ids)
            pairs = pairs_for_profile(profile, events, now)
            await db_matches.write_profile_matches(
                conn, profile_id, pairs, profile.hidden_event_ids
            )
        await mark_done(conn, [outbox_id])
    return len(pairs)


async def enqueue_chunk(queue: ArqRedis, settings: Settings, run_id: int, chunk_no: int) -> bool:
    """Enqueue one chunk; a chunk already queued or running keeps its id (no double)."""
    try:
        await queue.enqueue_job(
            jobs.RESCORE_CHUNK,
            run_id,
            chunk_no,
            _job_id=jobs.chunk_job_id(settings.redis_prefix, run_id, chunk_no),
            _queue_name=settings.chunk_queue_name,
        )
    except (RedisError, OSError) as exc:
        log.warning("chunk enqueue deferred to the sweep", extra={"error": type(exc).__name__})
        return False
    return True


async def enqueue_finish(queue: ArqRedis, settings: Settings, run_id: int) -> bool:
    """Enqueue a run's swap (by its last chunk, or the sweep when that was lost)."""
    try:
        await queue.enqueue_job(
            jobs.RESCORE_FINISH,
            run_id,
            _job_id=jobs.finish_job_id(settings.redis_prefix, run_id),
            _queue_name=settings.chunk_queue_name,
        )
    except (RedisError, OSError) as exc:
        log.warning("swap enqueue deferred to the sweep", extra={"error": type(exc).__name__})
        return False
    return True


async def enqueue_index(queue: ArqRedis, settings: Settings, run_id: int, chunk_no: int) -> None:
    """Enqueue the early index build of a chunk's partition on the main queue, where it
    runs beside the next chunk. Lost (Redis gone), it costs only time: the swap builds
    what is missing."""
    try:
        await queue.enqueue_job(
            jobs.RESCORE_INDEX,
            run_id,
            chunk_no,
            _job_id=jobs.index_job_id(settings.redis_prefix, run_id, chunk_no),
            _queue_name=settings.queue_name,
        )
    except (RedisError, OSError) as exc:
        log.warning("early index build skipped", extra={"error": type(exc).__name__})


async def fan_out(conn: asyncpg.Connection, run_id: int, chunk_size: int) -> int:
    """Split the run into chunks and create the table they fill (in the caller's
    transaction, under the writers' lock); returns how many chunks."""
    await db_matches.lock_writers(conn)
    chunks = await rescore.fan_out(conn, run_id, chunk_size)
    if chunks:
        await rescore.mark_fanned_out(conn, run_id)
        await rescore_tables.create(conn, run_id)
    return chunks


@measured
@counted_tries("rescore", RESCORE_ALL_TIMEOUT_S)
async def rescore_all(ctx: dict[str, Any], outbox_id: int, version: int) -> int:
    """Fan a full re-score of `version` out into chunks and create the table they fill;
    returns how many chunks."""
    async with retry_transient(), ctx["pool"].acquire() as conn, conn.transaction():
        if await rescore.outbox_done(conn, outbox_id):
            return 0  # fanned out already (a retry)
        await db_matches.lock_writers(conn)
        run_id = await rescore.run_for(conn, version, "rescore")
        chunks = await fan_out(conn, run_id, CHUNK_SIZE)
        await mark_done(conn, [outbox_id])
    for chunk_no in range(chunks):
        # Not sent now (Redis gone): the chunk sweep sends it once it is stale.
        await enqueue_chunk(ctx["redis"], ctx["settings"], run_id, chunk_no)
    log.info("re-score fanned out", extra={"run": run_id, "version": version, "chunks": chunks})
    return chunks


@contextlib.contextmanager
def _paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: a chunk creates a hundred thousand
    acyclic objects (rows, Structs, dicts) that would each trigger full collections over
    everything alive, costing as much as reading them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Phases:
    """Seconds spent in each phase of a job, for its log line."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[f"{name}_s"] = round(now - self._last, 3)
        self._last = now


def _bulk(
    events: list[ScoringEvent], profiles: list[ScoringProfile], now: datetime
) -> bulk_scoring.Matches:
    return bulk_scoring.score_all(events, profiles, now=now)


@measured
async def rescore_chunk(ctx: dict[str, Any], run_id: int, chunk_no: int) -> int:
    """Re-score one profile range against every live event with the run's version, into
    the run's own table; the run's last chunk enqueues the swap. Returns the chunk's
    matches. Changes made meanwhile are the swap's business (see finish_rescore)."""
    now = datetime.now(UTC)
    clock = _Phases()
    async with retry_transient(), ctx["pool"].acquire() as conn:
        with _paused_gc():
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                chunk = await rescore.get_chunk(conn, run_id, chunk_no)
                if chunk is None or chunk["done_at"] is not None:
                    return 0
                superseded = await rescore.superseded(conn, run_id)
                events = await inputs.load_live_events(conn, now)
                profiles = await inputs.load_profile_range(
                    conn, chunk["first_profile_id"], chunk["last_profile_id"]
                )
            if superseded:
                events, profiles = [], []  # the newer run re-scores these profiles
            clock.lap("read")
            found = await asyncio.to_thread(_bulk, events, profiles, now)
            clock.lap("score")
            # The Worker's own cache: its ctx lives as long as it does, on one database.
            known = ctx.setdefault("explanation_ids", {})
            code_ids = await match_copy.code_ids(conn, found.texts, known)
            payload = await asyncio.to_thread(match_copy.encode, found, code_ids)
            clock.lap("encode")
        async with conn.transaction():
            locked = await rescore.claim_chunk(conn, run_id, chunk_no)
            if locked is None or locked["done_at"] is not None:
                return 0  # another worker finished it meanwhile
            # Written even when empty or superseded: the partitions must tile every id.
            # Indexed and attached by the swap job.
            first_id, next_first_id = (await rescore.part_bounds(conn, run_id))[chunk_no]
            await rescore_tables.write_part(
                conn,
                run_id,
                chunk_no,
                first_id=first_id,
                next_first_id=next_first_id,
                payload=payload if found else None,
            )
            last = await rescore.chunk_done(
                conn,
                run_id,
                chunk_no,
                pairs=len(events) * len(profiles),
                matches=len(found),
                profiles=len(profiles),
            )
        clock.lap("write")
    log.info("re-score chunk written", extra={"run": run_id, "chunk": chunk_no, **clock.laps})
    if last:  # not sent (Redis gone): the chunk sweep sends it
        await enqueue_finish(ctx["redis"], ctx["settings"], run_id)
    else:
        await enqueue_index(ctx["redis"], ctx["settings"], run_id, chunk_no)
    return len(found)


@measured
async def index_rescore_part(ctx: dict[str, Any], run_id: int, chunk_no: int) -> bool:
    """Build a written chunk's partition's indexes while its run's other chunks score, so
    the swap has fewer left to build; True when built here. Nothing when the run is over
    or moot."""
    started = time.perf_counter()
    async with retry_transient(), ctx["pool"].acquire() as conn:
        if not await rescore.index_wanted(conn, run_id):
            return False
        await rescore_tables.index_part(conn, run_id, chunk_no)
    log.info(
        "re-score partition indexed",
        extra={
            "run": run_id,
            "chunk": chunk_no,
            "index_s": round(time.perf_counter() - started, 3),
        },
    )
    return True


@measured
async def finish_rescore(ctx: dict[str, Any], run_id: int) -> bool:
    """Swap a complete run's table in for `matches` (or drop it, superseded); True when
    the run is finished. Scoring jobs done since the fan-out wrote to the old table: they
    are marked pending again in the swap's transaction and run again on the new one."""
    pool = ctx["pool"]
    clock = _Phases()
    async with retry_transient(), pool.acquire() as conn:
        async with conn.transaction():
            run = await rescore.claim_complete_run(conn, run_id)
            if run is None:
                return False  # not complete yet, or finished already
            if await rescore.superseded(conn, run_id):
                await rescore_tables.drop(conn, run_id, run["chunks_total"])
                await rescore.finish_run(conn, run_id)
                return True
            # The run's row stays locked (one swap at a time) while other connections
            # build the indexes.
            bounds = await rescore.part_bounds(conn, run_id)
            await rescore_tables.index_parts(pool, run_id, len(bounds))
            await rescore_tables.attach_parts(conn, run_id, bounds)
        clock.lap("index")
        reopened = await _swap(conn, run_id, clock)
    if reopened is None:
        return False
    for row in reopened:
        await enqueue_after_commit(
            pool, ctx["redis"], ctx["settings"].redis_prefix, row["kind"], row["id"],
            row["subject_id"],
        )  # fmt: skip
    log.info("re-score swapped in", extra={"run": run_id, "rerun": len(reopened), **clock.laps})
    return True


async def _swap(
    conn: asyncpg.Connection, run_id: int, clock: _Phases
) -> list[asyncpg.Record] | None:
    """The swap's transaction, tried again while the live tables are busy; the reopened
    outbox rows, or None when another worker finished the run meanwhile."""
    for attempt, wait_ms in enumerate(SWAP_LOCK_WAITS_MS):
        try:
            async with conn.transaction():
                await db_matches.lock_writers(conn)
                run = await rescore.claim_complete_run(conn, run_id)
                if run is None:
                    return None
                await rescore_tables.lock_live_tables(conn, timeout_ms=wait_ms)
                clock.lap("lock")
                await rescore_tables.drop_gone(conn, run_id)
                clock.lap("gone")
                await rescore_tables.carry_cancelled(conn, run_id)
                await rescore_tables.swap_in(conn, run_id)
                reopened = await reopen_done_since(conn, run["fanned_out_at"])
                await rescore.finish_run(conn, run_id)
                clock.lap("swap")
            clock.lap("commit")
            return reopened
        except asyncpg.LockNotAvailableError:
            log.info("re-score swap waits for busy tables", extra={"attempt": attempt + 1})
            await asyncio.sleep(0.05 * (attempt + 1))
    raise Retry(defer=1)
