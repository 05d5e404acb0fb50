"""Scale-out on one machine: a full re-score shared by one, then two worker processes
(wall time and speed-up; every chunk done exactly once), and feed polls answered by every
feed process (counted from each process's own /metrics).

Run: `python -m benchmarks scaleout` (LOWKEY_SCALEOUT_PROFILES, default 40 000;
LOWKEY_SCALEOUT_EVENTS, default 1 500).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from datetime import UTC, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec

from benchmarks import loadgen
from benchmarks.bench_drill import matches_diff, start_rescore, wait_drained
from benchmarks.city import City, build_city
from benchmarks.cluster import SECRET_KEY, Cluster, Proc, add_worker, start_cluster, stop_on_sigterm
from shared.crypto import token_hash
from shared.db.pool import create_pool
from shared.db.profiles import insert_profile
from shared.models.profiles import ProfileCreate
from shared.scoring import ScoringEvent, ScoringProfile

RUN = """
SELECT id, chunks_total, chunks_done, matches, extract(epoch FROM finished_at - started_at)
FROM rescore_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1
"""
CHUNK_RUNS = re.compile(
    r'^lowkey_job_duration_seconds_count\{function="rescore_chunk"\} (\S+)$', re.M
)
# The route template itself holds braces (`/feeds/{filename}`), so match to the line's end.
FEED_REQUESTS = re.compile(r'^lowkey_requests_total\{.*path="/feeds/.*\} (\S+)$', re.M)


def profile_create(p: ScoringProfile) -> ProfileCreate:
    """A benchmark-city profile as the API's create shape."""
    windows = [
        {
            "days": list(w.days),
            "from": w.start.strftime("%H:%M"),
            "to": "24:00" if w.end == dtime(0) else w.end.strftime("%H:%M"),
        }
        for w in p.availability
    ]
    return msgspec.convert(
        {
            "home": {"lat": p.home_lat, "lon": p.home_lon},
            "radius_km": max(0.1, p.radius_km),
            "interests": p.interests,
            "comfort_level": p.comfort_level,
            "open_to_stretch": p.open_to_stretch,
            "formats": list(p.formats),
            "max_cost_cents": p.max_cost_cents,
            "currency": p.currency if p.max_cost_cents is not None else None,
            "languages": list(p.languages),
            "accessibility_needs": list(p.accessibility_needs),
            "availability": windows,
            "timezone": p.timezone,
            "max_events_per_week": p.max_events_per_week,
        },
        ProfileCreate,
    )


def event_create(e: ScoringEvent, title: str) -> dict[str, Any]:
    """A benchmark-city event as a POST /v1/events body."""
    venue = None
    if e.lat is not None and e.lon is not None:
        venue = {"name": "Venue", "address": "Markt 1, Leipzig", "lat": e.lat, "lon": e.lon}
    return {
        "title": title,
        "description": "An event of the benchmark city.",
        "starts_at": e.starts_at.isoformat(),
        "ends_at": e.ends_at.isoformat(),
        "timezone": e.timezone,
        "recurrence": e.recurrence,
        "format": e.format,
        "venue": venue,
        "online_url": "https://meet.example.org/x" if e.format != "in_person" else None,
        "tags": list(e.tags),
        "group_size": e.group_size,
        "structure": e.structure,
        "noise": e.noise,
        "talking_optional": e.talking_optional,
        "newcomer_support": e.newcomer_support,
        "cost_cents": e.cost_cents,
        "currency": e.currency,
        "accessibility": list(e.accessibility),
        "languages": list(e.languages),
    }


async def seed_city(database_url: str, api: str, city: City, key: str) -> tuple[float, int]:
    """Events through the API (each scored as posted, against no profiles yet), then the
    profiles straight through shared.db (the API would take minutes); (seconds, events
    the API refused as already started)."""
    started = time.perf_counter()
    refused = 0
    sem = asyncio.Semaphore(8)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:

        async def post(e: ScoringEvent) -> None:
            nonlocal refused
            async with sem:
                r = await client.post(f"{api}/v1/events", json=event_create(e, city.titles[e.id]))
            refused += r.status_code != 201

        await asyncio.gather(*(post(e) for e in city.events if e.status == "scheduled"))
    await wait_drained(database_url, limit_s=600)
    pool = await create_pool(database_url, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            for p in city.profiles:
                await insert_profile(
                    conn,
                    profile_create(p),
                    token_hash=token_hash(SECRET_KEY, f"bench-{p.id}", purpose="profile"),
                    feed_token_hash=token_hash(SECRET_KEY, f"bench-{p.id}", purpose="feed"),
                    feed_token_sealed=b"\x00",
                )
    finally:
        await pool.close()
    return time.perf_counter() - started, refused


def _sum(pattern: re.Pattern[str], text: str) -> float:
    return sum(float(v) for v in pattern.findall(text))


async def timed_rescore(cluster: Cluster, api: str) -> dict[str, Any]:
    """A full re-score (as the nightly job starts one), then wait for it; the run's figures
    and chunk job counts."""
    workers = cluster.role("worker")
    before = [_sum(CHUNK_RUNS, await asyncio.to_thread(cluster.metrics, w)) for w in workers]
    started = time.perf_counter()
    await start_rescore(cluster.database_url, cluster.redis.url)
    await wait_drained(cluster.database_url, limit_s=600)
    wall = time.perf_counter() - started
    conn = await asyncpg.connect(cluster.database_url)
    try:
        run = await conn.fetchrow(RUN)
    finally:
        await conn.close()
    after = [_sum(CHUNK_RUNS, await asyncio.to_thread(cluster.metrics, w)) for w in workers]
    return {
        "workers": len(workers),
        "wall_s": wall,
        "run_s": float(run[4]),
        "chunks_total": run[1],
        "chunks_done": run[2],
        "matches": run[3],
        "chunk_jobs_per_worker": [int(a - b) for a, b in zip(after, before, strict=True)],
    }


def peak_memory_mb(proc: Proc) -> float:
    """The process's peak resident memory so far (Linux VmHWM), in MB."""
    assert proc.popen is not None
    status = Path(f"/proc/{proc.popen.pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return kib / 1024


async def feed_spread(cluster: Cluster, world: loadgen.World, seconds: float) -> dict[str, int]:
    """Feed polls only, spread over every feed process; requests each one counted."""
    feeds: list[Proc] = cluster.role("feed")
    before = [_sum(FEED_REQUESTS, await asyncio.to_thread(cluster.metrics, f)) for f in feeds]
    world.samples.clear()
    await loadgen.run_load(world, seconds=seconds, rate=100, concurrency=8, write_share=0.0)
    after = [_sum(FEED_REQUESTS, await asyncio.to_thread(cluster.metrics, f)) for f in feeds]
    counted = {f.name: int(a - b) for f, a, b in zip(feeds, after, before, strict=True)}
    summary = loadgen.summary(world.samples)
    print(
        f"  feed polls: {summary['requests']} sent, statuses {summary['statuses']}, "
        f"p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms"
    )
    return counted


async def run_scaleout(profiles: int, events: int) -> dict[str, Any]:
    city = build_city(profiles, events, now=datetime.now(UTC))
    cluster = await asyncio.to_thread(start_cluster, 1, 2, 1)
    try:
        api = cluster.role("api")[0].url
        world = loadgen.World(api=[api], feeds=[p.url for p in cluster.role("feed")])
        await loadgen.seed(world, organisers=1, events=0, users=0)
        seed_s, refused = await seed_city(cluster.database_url, api, city, world.organisers[0].key)
        await loadgen.seed(world, organisers=0, events=0, users=200)
        await wait_drained(cluster.database_url, limit_s=600)
        print(
            f"  seeded the city in {seed_s:.1f} s ({refused} events refused by the API as"
            f" already started), plus 200 users with feeds through the API"
        )
        warm = await timed_rescore(cluster, api)  # first full matches; warms caches
        print(f"  warm-up re-score (1 worker): {warm['run_s']:.1f} s, {warm['matches']} matches")
        one = await timed_rescore(cluster, api)
        add_worker(cluster)
        await asyncio.to_thread(cluster.wait_ready, 60)
        # The new worker's first chunk warms its caches (explanation ids, freed memory),
        # as the first worker's did in the warm-up above.
        warm = await timed_rescore(cluster, api)
        print(f"  warm-up re-score (2 workers): {warm['run_s']:.1f} s")
        two = await timed_rescore(cluster, api)
        memory = {w.name: round(peak_memory_mb(w)) for w in cluster.role("worker")}
        diff = await matches_diff(cluster.database_url)
        spread = await feed_spread(cluster, world, 15)
        return {"one": one, "two": two, "matches": diff, "feeds": spread, "memory": memory}
    finally:
        await asyncio.to_thread(cluster.stop)


def main() -> None:
    stop_on_sigterm()
    profiles = int(os.environ.get("LOWKEY_SCALEOUT_PROFILES") or 40_000)
    events = int(os.environ.get("LOWKEY_SCALEOUT_EVENTS") or 1_500)
    print(
        f"scale-out: benchmark city, {profiles} profiles x {events} events, 50 x 50 km; "
        f"{os.cpu_count()} CPUs; private PostgreSQL and Redis"
    )
    result = asyncio.run(run_scaleout(profiles, events))
    for key in ("one", "two"):
        r = result[key]
        print(
            f"  full re-score, {r['workers']} worker(s): run {r['run_s']:.1f} s "
            f"(wall {r['wall_s']:.1f} s), chunks {r['chunks_done']}/{r['chunks_total']}, "
            f"chunk jobs per worker {r['chunk_jobs_per_worker']}, {r['matches']} matches"
        )
    speedup = result["one"]["run_s"] / result["two"]["run_s"]
    print(f"  speed-up 1 -> 2 workers: {speedup:.2f}x")
    print(f"  matches vs from scratch: {result['matches']}")
    print(f"  feed requests counted by each feed process: {result['feeds']}")
    print(f"  worker peak memory (VmHWM, MB) after the re-scores: {result['memory']}")
    two = result["two"]
    problems = []
    if (
        two["chunks_done"] != two["chunks_total"]
        or sum(two["chunk_jobs_per_worker"]) != two["chunks_total"]
    ):
        problems.append("a chunk was done twice or not at all")
    if min(two["chunk_jobs_per_worker"]) == 0:
        problems.append("one worker did no chunk")
    if min(result["feeds"].values()) == 0:
        problems.append("a feed process served nothing")
    m = result["matches"]
    if m["missing"] or m["extra"] or m["different"]:
        problems.append(f"matches differ from scratch: {m}")
    print("scale-out:", "PASSED" if not problems else "FAILED: " + "; ".join(problems))
    if problems:
        raise AssertionError("; ".join(problems))


if __name__ == "__main__":
    main()
