"""Fault drill under load on a private cluster: SIGKILL a worker mid re-score, stop and
restart Redis, stop PostgreSQL with `-m immediate` and restart it, all under a mixed load.

Afterwards: no acknowledged write lost, stored matches equal a from-scratch computation,
no 5xx but 503 + Retry-After, and those only while PostgreSQL was down or just back (an
outage of Redis alone costs no answer), and every process recovered without a hand
restart. The warnings the api and feed processes logged are summed up per phase, so a
503 can be traced to its cause. Run: `python -m benchmarks drill` (LOWKEY_DRILL_SECONDS,
default 240).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import numpy as np

from benchmarks import loadgen
from benchmarks.cluster import ADMIN_KEY, Cluster, start_cluster, stop_on_sigterm
from shared import bulk_scoring
from shared.db import scoring_inputs as inputs
from shared.db.outbox import count_parked, count_pending
from shared.db.pool import create_pool
from shared.queue import connect_queue, enqueue_after_commit
from shared.settings import Settings

STORED_MATCHES = """
SELECT m.profile_id, m.event_id, m.interest_score, m.comfort_gap, m.online, m.distance_km
FROM matches m JOIN events e ON e.id = m.event_id WHERE e.status = 'scheduled'
"""
UNFINISHED_RUNS = "SELECT count(*) FROM rescore_runs WHERE finished_at IS NULL"
RUN_FINISHED_AT = "SELECT max(finished_at) FROM rescore_runs WHERE id >= $1"
FANNED_OUT = "SELECT count(*) FROM rescore_runs WHERE id > $1 AND chunks_total > 0"
LAST_RUN = "SELECT coalesce(max(id), 0) FROM rescore_runs"
CHUNKS = "SELECT coalesce(sum(chunks_total), 0), coalesce(sum(chunks_done), 0) FROM rescore_runs"
# After PostgreSQL is back, the processes' pools reconnect: requests started this soon
# after the restart still count as the outage's (503 with Retry-After is right for them).
POSTGRES_SETTLE_S = 10.0


@dataclass
class Plan:
    seconds: float = 240.0
    apis: int = 2
    feeds: int = 2
    workers: int = 2
    organisers: int = 20
    events: int = 300
    users: int = 1500
    rate: float = 120.0
    concurrency: int = 8
    outage_s: float = 20.0
    kill_worker: bool = True
    redis: bool = True
    postgres: bool = True


@dataclass
class Drill:
    plan: Plan
    cluster: Cluster
    world: loadgen.World
    t0: float = 0.0
    phases: list[tuple[float, str]] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)  # what happened when (time.time)
    # /readyz probes: (started, finished, process, status)
    ready: list[tuple[float, float, str, int]] = field(default_factory=list)

    def phase(self, name: str) -> None:
        self.phases.append((time.time(), name))
        self.events[name] = time.time()
        print(f"  t={time.time() - self.t0:6.1f} s  {name}", flush=True)

    def phase_of(self, t: float) -> str:
        name = "before faults"
        for start, label in self.phases:
            if t >= start:
                name = label
        return name


async def _sleep_until(drill: Drill, fraction: float) -> None:
    await asyncio.sleep(max(0.0, drill.t0 + fraction * drill.plan.seconds - time.time()))


START_RESCORE = """
WITH run AS (
    INSERT INTO rescore_runs (weight_version, reason)
    SELECT version, 'drill' FROM active_weights RETURNING weight_version
)
INSERT INTO outbox (kind, subject_id) SELECT 'rescore', weight_version FROM run
RETURNING id, subject_id
"""


async def start_rescore(database_url: str, redis_url: str) -> None:
    """A full re-score, queued as the nightly job queues it: the outbox row, then its job
    enqueued after the commit (the outbox sweep sends it if Redis is down)."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    queue = connect_queue(Settings(redis_url=redis_url))
    try:
        async with pool.acquire() as conn:
            outbox_id, version = await conn.fetchrow(START_RESCORE)
        await enqueue_after_commit(
            pool, queue, Settings().redis_prefix, "rescore", outbox_id, version
        )
    finally:
        await queue.aclose()
        await pool.close()


async def change_weights(api: str) -> int:
    """A new weight version (distance and interest swapped): live at once, no re-score."""
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        current = (await client.get(f"{api}/v1/admin/weights")).json()
        body = {
            f: current[f]
            for f in (
                "comfort",
                "distance_decay_km",
                "online_score",
                "stretch_penalty",
                "min_score",
            )
        }
        body.update(distance=current["interest"], interest=current["distance"], note="drill")
        r = await client.put(f"{api}/v1/admin/weights", json=body)
        r.raise_for_status()
        return int(r.json()["version"])


async def _probe(drill: Drill, stop: asyncio.Event) -> None:
    """/readyz of every api and feed process, four times a second."""
    targets = [p for p in drill.cluster.procs if p.role != "worker"]
    async with httpx.AsyncClient(timeout=1.0) as client:
        while not stop.is_set():
            for proc in targets:
                started = time.time()
                try:
                    status = (await client.get(proc.url + "/readyz")).status_code
                except httpx.HTTPError:
                    status = 0
                drill.ready.append((started, time.time(), proc.name, status))
            await asyncio.sleep(0.25)


async def _faults(drill: Drill) -> None:
    plan, cluster = drill.plan, drill.cluster
    conn = await asyncpg.connect(cluster.database_url)
    try:
        drill.events["last run before"] = float(await conn.fetchval(LAST_RUN))
    finally:
        await conn.close()
    await _sleep_until(drill, 0.08)
    await change_weights(drill.world.api[0])
    await start_rescore(cluster.database_url, cluster.redis.url)
    drill.phase("re-score started")
    if plan.kill_worker:
        # Killed as soon as the run has fanned out: its chunks are queued or running.
        conn = await asyncpg.connect(cluster.database_url)
        try:
            for _ in range(2000):  # the outbox sweep sends it within 10 s
                if await conn.fetchval(FANNED_OUT, int(drill.events["last run before"])):
                    break
                await asyncio.sleep(0.02)
            cluster.kill_worker(0)
            drill.phase("worker SIGKILLed")
            drill.events["runs open at kill"] = float(await conn.fetchval(UNFINISHED_RUNS))
        finally:
            await conn.close()
    if plan.redis:
        await _sleep_until(drill, 0.25)
        # Marked before the stop: requests from this instant meet a server going down
        # (`stop` returns once it is gone, and what failed meanwhile is the outage's).
        drill.phase("redis down")
        await asyncio.to_thread(cluster.redis.stop)
        await asyncio.sleep(plan.outage_s)
        await asyncio.to_thread(cluster.redis.start)
        drill.phase("redis restarted")
    if plan.postgres:
        await _sleep_until(drill, 0.55)
        drill.phase("postgres down")
        await asyncio.to_thread(cluster.postgres.stop_immediate)
        await asyncio.sleep(plan.outage_s)
        await asyncio.to_thread(cluster.postgres.start)
        drill.phase("postgres restarted")


OUTBOX_STATE = """
SELECT kind, attempts, enqueued_at IS NOT NULL AS enqueued, count(*) AS n
FROM outbox WHERE done_at IS NULL AND parked_at IS NULL
GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 8
"""


async def wait_drained(
    database_url: str, limit_s: float = 180, cluster: Cluster | None = None
) -> float:
    """Until the outbox is empty and every re-score run finished; seconds waited. On a
    timeout the error says what is left and what the workers last logged."""
    started = time.monotonic()
    pending = runs = -1
    state: list[asyncpg.Record] = []
    while True:
        try:
            conn = await asyncpg.connect(database_url)
            try:
                pending = await count_pending(conn)
                runs = await conn.fetchval(UNFINISHED_RUNS)
                state = await conn.fetch(OUTBOX_STATE)
            finally:
                await conn.close()
            if pending == 0 and runs == 0:
                return time.monotonic() - started
        except (OSError, asyncpg.PostgresError):
            pass
        if time.monotonic() - started > limit_s:
            left = [dict(r) for r in state]
            raise TimeoutError(
                f"outbox not drained: {pending} pending, {runs} runs open; left {left}"
                + (_workers_said(cluster) if cluster is not None else "")
            )
        await asyncio.sleep(1)


def _workers_said(cluster: Cluster) -> str:
    """Each worker's state and the last lines of its log (a failed drain's diagnosis)."""
    out = []
    for proc in cluster.role("worker"):
        alive = proc.popen is not None and proc.popen.poll() is None
        path = cluster.root / "logs" / f"{proc.name}.log"
        tail = path.read_text(errors="replace").splitlines()[-15:] if path.exists() else []
        out.append(
            f"\n{proc.name}: alive={alive} restarts={len(proc.restarts)} exits={proc.exits}\n"
            + "\n".join(tail)
        )
    return "".join(out)


async def matches_diff(database_url: str) -> dict[str, int]:
    """Stored pairs and their parts against all events x all profiles scored now."""
    now = datetime.now(UTC)
    pool = await create_pool(database_url, max_size=1)  # json columns decoded
    try:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            events = await inputs.load_live_events(conn, now)
            profiles = await inputs.load_profile_range(conn, 0, 2**62)
            stored = await conn.fetch(STORED_MATCHES)
    finally:
        await pool.close()
    want = bulk_scoring.score_all(events, profiles, now=now)
    keys = zip(want.profile_id.tolist(), want.event_id.tolist(), strict=True)
    parts = zip(
        want.interest.tolist(),
        want.comfort_gap.tolist(),
        want.online.tolist(),
        [None if np.isnan(k) else k for k in want.distance_km.tolist()],
        strict=True,
    )
    want_parts = dict(zip(keys, parts, strict=True))
    got = {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in stored}
    missing = want_parts.keys() - got.keys()
    extra = got.keys() - want_parts.keys()

    def same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
        close = (a[3] is None) == (b[3] is None) and (
            a[3] is None or bool(np.isclose(a[3], b[3], atol=1e-3))
        )
        return bool(np.isclose(a[0], b[0], atol=1e-5)) and a[1:3] == b[1:3] and close

    wrong = sum(1 for k in want_parts.keys() & got.keys() if not same(got[k], want_parts[k]))
    return {
        "expected": len(want_parts),
        "stored": len(got),
        "missing": len(missing),
        "extra": len(extra),
        "different": wrong,
    }


def _recovery(drill: Drill, restarted: str, until: str | None) -> dict[str, float | None]:
    """After a restart: when /readyz was 200 everywhere again, and the end of the last
    failed request (a 5xx or no answer) before the next fault (probes and requests still
    in flight when it began are the next fault's)."""
    at = drill.events.get(restarted)
    if at is None:
        return {}
    end = drill.events.get(until, float("inf")) if until else float("inf")
    last_bad: dict[str, float] = {}
    for t, finished, name, status in drill.ready:
        if at <= t and finished < end and status != 200:
            last_bad[name] = t
    failed = [
        s.started + s.seconds
        for s in drill.world.samples
        if at <= s.started and s.started + s.seconds < end and (s.status >= 500 or s.status == 0)
    ]
    return {
        "ready_again_s": max(last_bad.values(), default=at) - at,
        "last_failed_request_s": (max(failed) - at) if failed else 0.0,
    }


def _unavailable_outside_postgres(drill: Drill) -> dict[str, int]:
    """503s (by phase) of requests that began and ended while PostgreSQL was up and
    settled: an outage of Redis alone, a worker's death or a re-score must cost no answer
    (a request still in flight when PostgreSQL stopped is the outage's)."""
    down = drill.events.get("postgres down", float("inf"))
    back = drill.events.get("postgres restarted", float("inf")) + POSTGRES_SETTLE_S
    found: Counter[str] = Counter()
    for s in drill.world.samples:
        if s.status == 503 and (s.started + s.seconds < down or s.started >= back):
            found[drill.phase_of(s.started)] += 1
    return dict(found)


def _logged_warnings(drill: Drill) -> dict[str, dict[str, int]]:
    """Per phase, how often the api and feed processes logged each warning or error
    (`part: event (error)`): what a 5xx came from."""
    out: dict[str, Counter[str]] = {}
    for proc in drill.cluster.procs:
        if proc.role == "worker":
            continue
        path = drill.cluster.root / "logs" / f"{proc.name}.log"
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
                if record.get("level") not in ("warning", "error", "critical"):
                    continue
                at = datetime.fromisoformat(record["timestamp"]).timestamp()
            except (ValueError, KeyError, TypeError):
                continue
            what = f"{proc.role}: {record.get('event')}"
            if record.get("error"):
                what += f" ({record['error']})"
            out.setdefault(drill.phase_of(at), Counter())[what] += 1
    return {phase: dict(counts.most_common(8)) for phase, counts in out.items()}


def _worker_recovery(drill: Drill) -> dict[str, Any]:
    killed = drill.events.get("worker SIGKILLed")
    if killed is None:
        return {}
    w0 = drill.cluster.role("worker")[0]
    back = [t for t in w0.restarts if t >= killed]
    return {"restarted_after_s": (back[0] - killed) if back else None}


async def run_drill(plan: Plan) -> dict[str, Any]:
    """Start a cluster, seed it, run the load and the faults, verify; the figures."""
    cluster = await asyncio.to_thread(start_cluster, plan.apis, plan.feeds, plan.workers)
    try:
        world = loadgen.World(
            api=[p.url for p in cluster.role("api")], feeds=[p.url for p in cluster.role("feed")]
        )
        started = time.monotonic()
        await loadgen.seed(world, organisers=plan.organisers, events=plan.events, users=plan.users)
        seeded_s = time.monotonic() - started
        await wait_drained(cluster.database_url, cluster=cluster)
        seeded_writes = world.ledger.acked_writes
        drill = Drill(plan, cluster, world, t0=time.time())
        stop = asyncio.Event()
        probe = asyncio.create_task(_probe(drill, stop))
        faults = asyncio.create_task(_faults(drill))
        await loadgen.run_load(
            world, seconds=plan.seconds, rate=plan.rate, concurrency=plan.concurrency
        )
        await faults
        stop.set()
        await probe
        drained_s = await wait_drained(cluster.database_url, cluster=cluster)
        await asyncio.to_thread(cluster.wait_ready, 60)
        conn = await asyncpg.connect(cluster.database_url)
        try:
            chunks_total, chunks_done = await conn.fetchrow(CHUNKS)
            parked = await count_parked(conn)
            run_finished = await conn.fetchval(
                RUN_FINISHED_AT, int(drill.events["last run before"]) + 1
            )
        finally:
            await conn.close()
        by_phase: dict[str, list[loadgen.Sample]] = {}
        for s in world.samples:
            by_phase.setdefault(drill.phase_of(s.started), []).append(s)
        killed = drill.events.get("worker SIGKILLed")
        return {
            "plan": plan,
            "seed": {"writes": seeded_writes, "seconds": seeded_s},
            "load": loadgen.summary(world.samples),
            "by_kind": {
                k: loadgen.summary([s for s in world.samples if s.kind == k])
                for k in sorted({s.kind for s in world.samples})
            },
            "by_phase": {
                name: loadgen.summary(by_phase.get(name, []))
                for name in ["before faults", *[n for _, n in drill.phases]]
            },
            "writes": {
                "acknowledged": world.ledger.acked_writes - seeded_writes,
                "unacknowledged": world.ledger.unacked_writes,
            },
            "lost": await loadgen.lost_writes(cluster.database_url, world.ledger),
            "matches": await matches_diff(cluster.database_url),
            "drained_after_load_s": drained_s,
            "chunks": {"total": int(chunks_total), "done": int(chunks_done)},
            "parked_jobs": parked,
            "rescore_finished_after_kill_s": (run_finished.timestamp() - killed)
            if run_finished is not None and killed is not None
            else None,
            "recovery": {
                "worker": _worker_recovery(drill),
                "redis": _recovery(drill, "redis restarted", "postgres down"),
                "postgres": _recovery(drill, "postgres restarted", None),
            },
            "runs_open_at_kill": drill.events.get("runs open at kill"),
            "unavailable_outside_postgres": _unavailable_outside_postgres(drill),
            "logged_warnings": _logged_warnings(drill),
            "worker_restarts": {p.name: len(p.restarts) for p in cluster.role("worker")},
            "api_feed_exits": [p.name for p in cluster.exited()],
        }
    finally:
        await asyncio.to_thread(cluster.stop)


def _fmt(s: dict[str, Any]) -> str:
    return (
        f"{s['requests']:6d} req  p50 {s['p50_ms']:6.1f} ms  p99 {s['p99_ms']:7.1f} ms  "
        f"statuses {s['statuses']}  5xx w/o Retry-After {s['5xx_without_retry_after']}"
    )


def report(result: dict[str, Any]) -> None:
    plan: Plan = result["plan"]
    print(
        f"cluster: {plan.apis} api, {plan.feeds} feed, {plan.workers} worker processes; "
        f"private PostgreSQL and Redis; load {plan.rate:.0f} req/s for {plan.seconds:.0f} s"
    )
    print(f"seeded {result['seed']['writes']} writes in {result['seed']['seconds']:.1f} s")
    print("all requests:", _fmt(result["load"]))
    for kind, s in result["by_kind"].items():
        print(f"  {kind:15s}", _fmt(s))
    print("by phase:")
    for name, s in result["by_phase"].items():
        print(f"  {name:20s}", _fmt(s))
    w = result["writes"]
    print(
        f"writes during the load: {w['acknowledged']} acknowledged, {w['unacknowledged']} not;"
        f" lost: {len(result['lost'])}"
    )
    for line in result["lost"][:10]:
        print("   LOST", line)
    print("matches vs from scratch:", result["matches"])
    print(
        f"outbox drained {result['drained_after_load_s']:.1f} s after the load; "
        f"re-score chunks {result['chunks']}; jobs parked {result['parked_jobs']}"
    )
    print("recovery:", result["recovery"])
    after = result["rescore_finished_after_kill_s"]
    if after is not None:
        print(
            f"re-score runs open when the worker was killed: {result['runs_open_at_kill']:.0f};"
            f" finished {after:.1f} s after the kill"
        )
    print("503 outside the PostgreSQL outage:", result["unavailable_outside_postgres"] or "none")
    for phase, counts in result["logged_warnings"].items():
        print(f"  logged in {phase}: {counts}")
    print(
        "worker restarts by the supervisor:",
        result["worker_restarts"],
        " api/feed processes that exited:",
        result["api_feed_exits"] or "none",
    )


def check(result: dict[str, Any]) -> list[str]:
    """What the drill promises; empty when it held."""
    problems = []
    if result["lost"]:
        problems.append(f"{len(result['lost'])} acknowledged writes lost")
    m = result["matches"]
    if m["missing"] or m["extra"] or m["different"]:
        problems.append(f"matches differ from scratch: {m}")
    if result["load"]["5xx_without_retry_after"]:
        problems.append("5xx answers without Retry-After")
    bad = {k: v for k, v in result["load"]["statuses"].items() if k >= 500 and k != 503}
    if bad:
        problems.append(f"5xx other than 503: {bad}")
    if result["unavailable_outside_postgres"]:
        problems.append(
            f"503 outside the PostgreSQL outage: {result['unavailable_outside_postgres']}"
        )
    if result["api_feed_exits"]:
        problems.append(f"processes exited: {result['api_feed_exits']}")
    if result["parked_jobs"]:
        problems.append(f"{result['parked_jobs']} jobs parked (the faults are passing ones)")
    if result["chunks"]["total"] != result["chunks"]["done"]:
        problems.append(f"re-score chunks not all done once: {result['chunks']}")
    return problems


def main() -> None:
    stop_on_sigterm()
    seconds = float(os.environ.get("LOWKEY_DRILL_SECONDS") or 240)
    result = asyncio.run(run_drill(Plan(seconds=seconds)))
    report(result)
    problems = check(result)
    print("drill:", "PASSED" if not problems else "FAILED: " + "; ".join(problems))
    if problems:
        raise AssertionError("; ".join(problems))


if __name__ == "__main__":
    main()
