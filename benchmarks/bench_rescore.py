"""Full re-score of the benchmark city: bulk scoring in-process, COPY of its rows into
PostgreSQL (floor, and scoring + COPY), and the geopy per-pair loop as a reference.
Run: python -m benchmarks.bench_rescore [--profiles N] [--events N] [--no-db]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import time
from collections.abc import Sequence

import asyncpg
import numpy as np

from benchmarks.city import build_city
from services.worker.memory import keep_freed_memory
from shared.bulk_scoring import Matches, Prepared, prepare, score_chunk
from shared.db import rescore_tables
from shared.db.matches import copy_binary
from shared.db.migrate import migrate
from shared.geodesy import distance_km, ecef_km
from shared.match_copy import encode
from shared.scoring import ScoringEvent, ScoringProfile, score_pair

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# The real run table's shape (LIKE matches): a plain, logged table without indexes.
CREATE_TABLE = """
CREATE TABLE bench_matches (
    profile_id bigint NOT NULL, event_id bigint NOT NULL, score real NOT NULL,
    distance_score real NOT NULL, interest_score real NOT NULL, comfort_score real NOT NULL,
    distance_km real, weight_version integer NOT NULL,
    scored_at timestamptz NOT NULL DEFAULT now(), explanation_id integer NOT NULL
) WITH (autovacuum_enabled = false)"""


def line(label: str, value: str) -> None:
    print(f"  {label:<44} {value}")


def pairs_within_radius(events: Sequence[ScoringEvent], profiles: Sequence[ScoringProfile]) -> int:
    """In-person pairs (venue within the profile's radius), whatever else holds."""
    x, y, z = ecef_km([p.home_lat for p in profiles], [p.home_lon for p in profiles])
    radius = np.array([p.radius_km for p in profiles])
    total = 0
    for e in events:
        if e.lat is not None and e.lon is not None and e.format != "online":
            ex, ey, ez = ecef_km(e.lat, e.lon)
            total += int(((x - ex) ** 2 + (y - ey) ** 2 + (z - ez) ** 2 <= radius**2).sum())
    return total


def geopy_reference(city_events: list[ScoringEvent], profiles: list[ScoringProfile], now) -> float:  # type: ignore[no-untyped-def]
    """Seconds per pair of the naive loop: geopy distance + score_pair."""
    rng = np.random.default_rng(0)
    sample = 20_000
    ps = rng.integers(0, len(profiles), sample)
    es = rng.integers(0, len(city_events), sample)
    start = time.perf_counter()
    for i, j in zip(ps.tolist(), es.tolist(), strict=True):
        p, e = profiles[i], city_events[j]
        km = None if e.lat is None else distance_km(p.home_lat, p.home_lon, e.lat, e.lon)
        score_pair(p, e, km, now=now)
    return (time.perf_counter() - start) / sample


def payload_of(matches: Matches) -> memoryview:
    """Binary COPY rows; explanation ids as the database would hand them out."""
    return encode(matches, np.arange(1, len(matches.texts) + 1, dtype=np.int32))


async def copy_benchmarks(url: str, prepared: Prepared, payload: memoryview) -> None:
    admin = await asyncpg.connect(url)
    name = f"lowkey_bench_{secrets.token_hex(4)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        database_url = url.rsplit("/", 1)[0] + "/" + name
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(CREATE_TABLE)
            start = time.perf_counter()
            await copy_binary(conn, "bench_matches", payload)
            floor = time.perf_counter() - start
            rows = await conn.fetchval("SELECT count(*) FROM bench_matches")
            line(
                "COPY floor (rows prepared, binary)",
                f"{floor:.2f} s  ({rows / floor / 1e6:.2f} M rows/s)",
            )
            await conn.execute("TRUNCATE bench_matches")
            await migrate(conn)
            copied, indexed = await write_parts(conn, database_url, prepared, score_chunk(prepared))
            line(
                "COPY FREEZE into 4 partitions (the chunks)",
                f"{copied:.2f} s  ({copied / floor:.2f}x floor)",
            )
            line("their indexes, two builds at a time, attach", f"{indexed:.2f} s")
            size = await conn.fetchval(
                "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
                " WHERE inhparent = 'matches_run_1'::regclass"
            )
            line(
                "stored size with both indexes", f"{size / 2**20:.0f} MiB, {size / rows:.0f} B/row"
            )

            start = time.perf_counter()
            await copy_binary(conn, "bench_matches", payload_of(score_chunk(prepared)))
            both = time.perf_counter() - start
            line(
                "scoring + COPY (one after the other)", f"{both:.2f} s  ({both / floor:.2f}x floor)"
            )
            await conn.execute("TRUNCATE bench_matches")

            both = await pipelined(conn, prepared)
            line(
                "scoring + COPY (pipelined, 8 chunks)", f"{both:.2f} s  ({both / floor:.2f}x floor)"
            )
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


async def write_parts(
    conn: asyncpg.Connection, database_url: str, prepared: Prepared, matches: Matches
) -> tuple[float, float]:
    """Seconds to write `matches` the way a full re-score does: the chunks' COPY FREEZE
    into 4 partitions (profile ranges), one after the other; then the swap job's index
    builds (two at a time) and attach."""
    await rescore_tables.create(conn, 1)
    profile_ids = np.sort(prepared.profiles.ids)
    firsts = [int(profile_ids[i * len(profile_ids) // 4]) for i in range(4)]
    bounds: list[tuple[int | None, int | None]] = [
        (first if k else None, firsts[k + 1] if k < 3 else None) for k, first in enumerate(firsts)
    ]
    payloads = []
    for first, upto in bounds:
        pick = np.ones(len(matches), bool)
        if first is not None:
            pick &= matches.profile_id >= first
        if upto is not None:
            pick &= matches.profile_id < upto
        payloads.append(payload_of(_subset(matches, pick)))
    start = time.perf_counter()
    for k, payload in enumerate(payloads):
        async with conn.transaction():
            await rescore_tables.write_part(
                conn, 1, k, first_id=bounds[k][0], next_first_id=bounds[k][1], payload=payload
            )
    copied = time.perf_counter() - start
    start = time.perf_counter()
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=2)
    try:
        await rescore_tables.index_parts(pool, 1, len(bounds))
    finally:
        await pool.close()
    async with conn.transaction():
        await rescore_tables.attach_parts(conn, 1, bounds)
    return copied, time.perf_counter() - start


def _subset(m: Matches, pick: np.ndarray) -> Matches:
    return Matches(
        m.profile_id[pick],
        m.event_id[pick],
        m.score[pick],
        m.distance[pick],
        m.interest[pick],
        m.comfort[pick],
        m.distance_km[pick],
        m.explanation_code[pick],
        m.texts,
    )


async def pipelined(conn: asyncpg.Connection, prepared: Prepared) -> float:
    """Score the next chunk of events in a thread while the previous one is copied."""
    loop = asyncio.get_running_loop()
    n = len(prepared.events.ids)
    bounds = [(i * n // 8, (i + 1) * n // 8) for i in range(8)]

    def payload_for(lo: int, hi: int) -> memoryview:
        return payload_of(score_chunk(prepared, lo, hi))

    start = time.perf_counter()
    pending = loop.run_in_executor(None, payload_for, *bounds[0])
    for nxt in [*bounds[1:], None]:
        payload = await pending
        if nxt is not None:
            pending = loop.run_in_executor(None, payload_for, *nxt)
        await copy_binary(conn, "bench_matches", payload)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--no-db", action="store_true", help="skip the PostgreSQL COPY part")
    args = parser.parse_args()
    keep_freed_memory()  # as `lowkey worker` does: arrays reuse freed pages, no faults

    print(f"benchmark city: {args.profiles} profiles x {args.events} events, 50 x 50 km")
    start = time.perf_counter()
    city = build_city(args.profiles, args.events)
    line("generate city (not part of a re-score)", f"{time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    prepared = prepare(city.events, city.profiles, now=city.now)
    prep_s = time.perf_counter() - start
    line("prepare tables", f"{prep_s:.2f} s")
    start = time.perf_counter()
    matches = score_chunk(prepared)
    score_s = time.perf_counter() - start
    line("bulk scoring (in-process, one core)", f"{score_s:.2f} s")
    start = time.perf_counter()
    payload = payload_of(matches)
    line("build COPY payload (binary, numpy)", f"{time.perf_counter() - start:.2f} s")
    line(
        "memory peak (ru_maxrss)",
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
    )

    within = pairs_within_radius(city.events, city.profiles)
    online = int(np.isnan(matches.distance_km).sum())
    line("candidate pairs within radius (in person)", f"{within:,}")
    line("stored rows (every eligible pair)", f"{len(matches):,}  ({online:,} online only)")
    line("distinct explanation texts", f"{len(matches.texts):,}")

    per_pair = geopy_reference(city.events, city.profiles, city.now)
    all_pairs = len(city.events) * len(city.profiles)
    line("geopy + score_pair loop, per pair", f"{per_pair * 1e6:.1f} us (20 000 sampled)")
    line("  extrapolated to all pairs", f"{per_pair * all_pairs / 3600:.1f} h for {all_pairs:,}")
    line("  extrapolated to pairs within radius", f"{per_pair * within / 60:.1f} min")

    if not args.no_db:
        url = os.environ.get("DATABASE_URL") or DEFAULT_URL
        asyncio.run(copy_benchmarks(url, prepared, payload))


if __name__ == "__main__":
    main()
