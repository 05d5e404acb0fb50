"""The load and feed measurements of `python -m benchmarks weights`, on its cluster (one
seeded benchmark city serves every figure: a second registered benchmark would seed it
again):

- `GET /v1/me/matches` at 64 users from a light client (benchmarks/httpload.js, Node):
  closed loop (64 connections flat out) beside `/healthz`, and open loop (64 users each
  about once a second), the figure held against its goal;
- 1 000 city feeds through a weight change: latency of their next poll, renders done
  (the feed process's own counter) beside the feeds whose bytes changed (their ETags);
- one ~30-entry feed made in process: `build_feed` cold (the process's kept entries
  forgotten before each run) and warm, and `prepare_feed` alone;
- the feed-rows query with the weights applied at read beside the same query reading a
  stored constant score, for the same 200 users, alternating.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from benchmarks.cluster import ADMIN_KEY, SECRET_KEY, Cluster
from services.feed import ical
from services.feed.render import (  # feed_window too: main moved it out of shared.scoring
    _midnight,
    build_feed,
    feed_window,
    prepare_feed,
    window_monday,
)
from shared.crypto import token_hash
from shared.db.feeds import SELECT_FEED_ROWS, feed_rows
from shared.db.weighing import ACTIVE_WEIGHTS, IS_MATCH, RANKED, WEIGHED
from shared.settings import Settings

CONNECTIONS = 64
CLOSED_S = 10
OPEN_S = 30
FEEDS = 1_000
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
RENDERS = re.compile(r'^lowkey_feed_renders_total\{outcome="(\w+)"\} (\S+)$', re.M)
LOAD_JS = Path(__file__).with_name("httpload.js")
# The same statement with the weighing replaced by a stored constant score: no weights
# row, no weigh_match, no min_score filter (what a feed read cost when scores were stored).
_WEIGHED_PARTS = (
    (f"WITH {ACTIVE_WEIGHTS}\n", ""),
    (RANKED.format(together="$3"), "m.interest_score"),
    (f" {WEIGHED}", ""),
    (f"{IS_MATCH} AND ", ""),
)
CONSTANT_FEED_ROWS = SELECT_FEED_ROWS
for _old, _new in _WEIGHED_PARTS:
    assert _old in CONSTANT_FEED_ROWS, _old
    CONSTANT_FEED_ROWS = CONSTANT_FEED_ROWS.replace(_old, _new)
# Profiles with at least one match under the active weights, by id (a sample is drawn).
MATCHED_PROFILES = f"""
WITH {ACTIVE_WEIGHTS}
SELECT DISTINCT m.profile_id FROM matches m {WEIGHED} WHERE {IS_MATCH} ORDER BY 1
"""
SET_FEED_TOKEN = "UPDATE profiles SET feed_token_hash = $2 WHERE id = $1"


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def summary(answer: dict[str, Any]) -> dict[str, Any]:
    ms = answer["ms"]
    statuses = {int(k): v for k, v in answer["statuses"].items()}
    return {
        "requests": len(ms),
        "rate": len(ms) / answer["elapsed_s"] if answer["elapsed_s"] else 0.0,
        "p50": pct(ms, 50),
        "p95": pct(ms, 95),
        "p99": pct(ms, 99),
        "statuses": statuses,
        "errors": sum(v for k, v in statuses.items() if k not in (200, 304)),
    }


def node_load(job: dict[str, Any]) -> dict[str, Any]:
    """One run of benchmarks/httpload.js (see there for the job's shape)."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (the light load client needs it)")
    out = subprocess.run(
        [node, str(LOAD_JS)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=True,
        timeout=job.get("seconds", 60) + job.get("warmup_s", 0) + 120,
    )
    answer: dict[str, Any] = json.loads(out.stdout)
    return answer


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[0]


def listing_load(api: str, tokens: list[str]) -> dict[str, Any]:
    """GET /v1/me/matches of many users, closed and open loop, beside /healthz."""
    users = [
        {"path": "/v1/me/matches?limit=10", "headers": {"Authorization": f"Bearer {t}"}}
        for t in tokens
    ]
    health = [{"path": "/healthz"}]
    out: dict[str, Any] = {}
    for name, mode, requests in (
        ("healthz_closed", "closed", health),
        ("matches_closed", "closed", users),
        ("healthz_open", "open", health),
        ("matches_open", "open", users),
    ):
        job = {"base": api, "mode": mode, "requests": requests, "connections": CONNECTIONS}
        if mode == "closed":
            job.update(seconds=CLOSED_S, warmup_s=2)
        else:
            job.update(seconds=OPEN_S, users=CONNECTIONS)
        out[name] = {**summary(node_load(job)), "load": loadavg()}
    return out


async def give_feed_tokens(database_url: str, count: int, seed: int = 7) -> list[tuple[int, str]]:
    """`count` city profiles with matches, each given a feed token the feed route accepts
    (the seeded `bench-<id>` is shorter than a feed token may be): (profile id, token)."""
    import random

    conn = await asyncpg.connect(database_url)
    try:
        ids = [r[0] for r in await conn.fetch(MATCHED_PROFILES)]
        chosen = sorted(random.Random(seed).sample(ids, count))
        tokens = [(pid, f"bench-feed-token-{pid:08d}") for pid in chosen]
        await conn.executemany(
            SET_FEED_TOKEN,
            [(pid, token_hash(SECRET_KEY, t, purpose="feed")) for pid, t in tokens],
        )
    finally:
        await conn.close()
    return tokens


def renders(cluster: Cluster) -> dict[str, float]:
    text = "".join(cluster.metrics(p) for p in cluster.role("feed"))
    counts: dict[str, float] = {"rendered": 0.0, "unchanged": 0.0}
    for outcome, value in RENDERS.findall(text):
        counts[outcome] = counts.get(outcome, 0.0) + float(value)
    return counts


def poll_once(feed: str, tokens: list[tuple[int, str]]) -> dict[str, Any]:
    job = {
        "base": feed,
        "mode": "once",
        "connections": CONNECTIONS,
        "requests": [{"path": f"/feeds/{t}.ics"} for _, t in tokens],
    }
    answer = node_load(job)
    return {**summary(answer), "etags": [r["etag"] for r in answer["results"]]}


def feeds_through_change(
    cluster: Cluster, api: str, tokens: list[tuple[int, str]], rounds: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """For each named weight set: from the defaults, with every feed's render stored, PUT
    the set and poll every feed once at 64 connections."""
    feed = cluster.role("feed")[0].url
    out: dict[str, Any] = {}
    with httpx.Client(timeout=30) as client:
        for name, weights in rounds.items():
            client.post(f"{api}/v1/admin/weights/1/activate", headers=ADMIN).raise_for_status()
            stored = poll_once(feed, tokens)  # renders of the defaults, stored
            before = renders(cluster)
            client.put(f"{api}/v1/admin/weights", json=weights, headers=ADMIN).raise_for_status()
            after_put = poll_once(feed, tokens)
            after = renders(cluster)
            changed = sum(a != b for a, b in zip(stored["etags"], after_put["etags"], strict=True))
            out[name] = {
                **{k: v for k, v in after_put.items() if k != "etags"},
                "stored_errors": stored["errors"],
                "rendered": int(after["rendered"] - before["rendered"]),
                "unchanged": int(after["unchanged"] - before["unchanged"]),
                "etags_changed": changed,
                "load": loadavg(),
            }
        client.post(f"{api}/v1/admin/weights/1/activate", headers=ADMIN).raise_for_status()
    return out


async def render_in_process(database_url: str, profile_ids: list[int]) -> dict[str, Any]:
    """The stored render with the entry count nearest 30 among `profile_ids`; its rows
    read from the database, then `build_feed` and `prepare_feed` timed on them."""
    public_url = Settings().public_url
    conn = await asyncpg.connect(database_url)
    try:
        bodies = await conn.fetch(
            "SELECT profile_id, body FROM feed_renders WHERE profile_id = ANY($1::bigint[])",
            profile_ids,
        )
        pid = min(bodies, key=lambda r: abs(bytes(r["body"]).count(b"BEGIN:VEVENT") - 30))[0]
        p = await conn.fetchrow(
            "SELECT timezone, max_events_per_week, availability::text AS availability,"
            " feed_style, calendar_label FROM profiles WHERE id = $1",
            pid,
        )
        now = datetime.now(UTC)
        week = window_monday(p["timezone"], now)
        window = feed_window(p["timezone"], _midnight(week, p["timezone"]))
        rows = await feed_rows(conn, pid, over_after=window.start)
    finally:
        await conn.close()
    options = dict(p) | {"week": week, "public_url": public_url}
    entries = build_feed(rows, **options).count(b"BEGIN:VEVENT")
    out: dict[str, Any] = {"profile": pid, "rows": len(rows), "entries": entries}

    def forget() -> None:  # the feed process keeps written entries: a cold render has none
        ical._event_bytes.cache_clear()  # type: ignore[attr-defined]
        ical._vtimezone_bytes.cache_clear()

    for name, fn, cold in (
        ("cold", build_feed, True),
        ("warm", build_feed, False),
        ("prepare", prepare_feed, False),
    ):
        times = []
        for _ in range(200):
            if cold:
                forget()
            started = time.perf_counter()
            fn(rows, **options)
            times.append(time.perf_counter() - started)
        out[f"{name}_ms"] = statistics.median(times) * 1000
    out["load"] = loadavg()
    return out


async def feed_rows_query(database_url: str, profile_ids: list[int]) -> dict[str, Any]:
    """SELECT_FEED_ROWS against CONSTANT_FEED_ROWS for the same users, alternating on one
    connection (each prepared; three passes, the first discarded as warm-up)."""
    conn = await asyncpg.connect(database_url)
    times: dict[str, list[float]] = {"weighed": [], "constant": []}
    rows: dict[str, int] = {"weighed": 0, "constant": 0}
    try:
        weighed = await conn.prepare(SELECT_FEED_ROWS)
        constant = await conn.prepare(CONSTANT_FEED_ROWS)
        over_after = datetime.now(UTC)
        for rep in range(3):
            for i, pid in enumerate(profile_ids):
                order = [("weighed", weighed), ("constant", constant)]
                if (i + rep) % 2:
                    order.reverse()
                for name, stmt in order:
                    args = (pid, over_after, []) if name == "weighed" else (pid, over_after)
                    started = time.perf_counter()
                    got = await stmt.fetch(*args)
                    elapsed = time.perf_counter() - started
                    if rep:
                        times[name].append(elapsed)
                        rows[name] += len(got)
    finally:
        await conn.close()
    n = len(times["weighed"])
    return {
        "users": len(profile_ids),
        "weighed_ms": statistics.median(times["weighed"]) * 1000,
        "constant_ms": statistics.median(times["constant"]) * 1000,
        "weighed_p95_ms": pct(times["weighed"], 95) * 1000,
        "constant_p95_ms": pct(times["constant"], 95) * 1000,
        "weighed_rows": rows["weighed"] / n,
        "constant_rows": rows["constant"] / n,
        "load": loadavg(),
    }
