"""Feed serving under wrk (64 connections, loopback): a full 200 and a 304, beside the same
server's constant /healthz (the ceiling) and nginx serving the same bytes as a static file.

Run: `.venv/bin/python -m benchmarks feed` (DATABASE_URL/REDIS_URL optional; embedded
servers otherwise). Needs Debian's `wrk` and `nginx` (`apt-get install wrk nginx-light`).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from litestar.testing import AsyncTestClient

from shared.db.migrate import migrate_url
from shared.runtime import ensure_servers
from shared.settings import Settings

CONNECTIONS = 64
DURATION_S = int(os.environ.get("LOWKEY_BENCH_SECONDS", "10"))
EVENTS = 30
GOAL = 0.70  # the feed at >= 70 % of the same server's constant endpoint
ADMIN_KEY = "bench-admin-key-0123456789abcdef"
SECRET_KEY = "bench-secret-key-0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent
# Benchmark seeding only: matches as the worker writes them (scored_at = now(), and the
# profile's matches_version bumped: the feed's cache key).
SEED_MATCH = """
WITH x AS (
    INSERT INTO match_explanations (text)
    VALUES ('board games · small, structured group · free')
    ON CONFLICT (text) DO UPDATE SET text = EXCLUDED.text RETURNING id
)
INSERT INTO matches (profile_id, event_id, distance_km, online, interest_score, comfort_gap,
                     explanation_id)
SELECT $1, $2, 1.5, false, $3, 1, x.id FROM x
"""
BUMP_PROFILE = "UPDATE profiles SET matches_version = matches_version + 1 WHERE id = $1"
NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    etag on;
    types {{ }}
    default_type "text/calendar; charset=utf-8";
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        add_header Cache-Control "private, max-age=900";
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def wait_until_up(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if fetch(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def cpu_s(pgid: int | None = None, cmdline_has: str | None = None) -> float:
    """CPU seconds used so far by the processes in group `pgid`, or whose command line
    holds `cmdline_has` (PostgreSQL names a backend's database there). Linux /proc."""
    total = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if pgid is not None and int(fields[2]) != pgid:
                continue
            if cmdline_has is not None and cmdline_has not in (proc / "cmdline").read_text():
                continue
        except (OSError, IndexError, ValueError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


class Run(msgspec.Struct, frozen=True):
    rate: float  # requests/s
    p99_ms: float
    cpu_us: float  # the server's own CPU time per request (the machine is shared)
    db_cpu_us: float  # PostgreSQL's backends' CPU time per request


def wrk(url: str, pgid: int, header: str | None = None, database: str = "-") -> Run:
    """One wrk run against the server whose process group is `pgid`."""
    cpu_before, db_before = cpu_s(pgid), cpu_s(cmdline_has=f" {database} ")
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION_S}s", "--latency", url]
    if header:
        command[1:1] = ["-H", header]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
    p99 = float(p99_value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    cpu, db_cpu = cpu_s(pgid) - cpu_before, cpu_s(cmdline_has=f" {database} ") - db_before
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non_2xx:
        raise RuntimeError(f"wrk saw {non_2xx.group(1)} error answers from {url}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Run(rate, p99, cpu / max(requests, 1) * 1e6, db_cpu / max(requests, 1) * 1e6)


async def seed(settings: Settings) -> str:
    """One organiser, 30 upcoming events (3 a week), one profile matched to all; its feed URL."""
    from services.api.app import create_app

    berlin = ZoneInfo("Europe/Berlin")
    today = datetime.now(berlin).date()
    monday = today - timedelta(days=today.weekday())
    async with AsyncTestClient(app=create_app(settings), base_url="http://api.bench") as api:
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        created = await api.post(
            "/v1/admin/organisers",
            json={"name": "Bench library", "contact_email": "bench@example.org"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        organiser = {"Authorization": f"Bearer {created.json()['api_key']}"}
        event_ids = []
        for n in range(EVENTS):
            day = monday + timedelta(weeks=1 + n // 3, days=2 * (n % 3))
            body = {
                "title": f"Quiet board games, table {n + 1}",
                "description": "Small tables, simple games; a host explains the rules. " * 3,
                "starts_at": f"{day}T19:00:00",
                "ends_at": f"{day}T21:00:00",
                "timezone": "Europe/Berlin",
                "format": "in_person",
                "venue": {
                    "name": "Stadtbibliothek",
                    "address": "Breite Str. 30, 10178 Berlin",
                    "lat": 52.5145,
                    "lon": 13.4016,
                },
                "tags": ["board-games"],
                "group_size": 8,
                "structure": "structured",
                "noise": "quiet",
                "talking_optional": True,
                "newcomer_support": True,
            }
            response = await api.post("/v1/events", json=body, headers=organiser)
            assert response.status_code == 201, response.text
            event_ids.append(int(response.json()["id"]))
        profile = await api.post(
            "/v1/profiles",
            json={
                "home": {"lat": 52.52, "lon": 13.40},
                "radius_km": 5,
                "comfort_level": 3,
                "timezone": "Europe/Berlin",
                "max_events_per_week": 3,
            },
        )
        assert profile.status_code == 201, profile.text
        profile_id, feed_url = int(profile.json()["id"]), str(profile.json()["feed_url"])
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction():
            await conn.executemany(
                SEED_MATCH, [(profile_id, e, 0.9 - i / 100) for i, e in enumerate(event_ids)]
            )
            await conn.execute(BUMP_PROFILE, profile_id)
    finally:
        await conn.close()
    return urlparse(feed_url).path


async def create_database(server_url: str, name: str) -> str:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = urlparse(server_url)._replace(path=f"/{name}").geturl()
    await migrate_url(url)
    return url


async def drop_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextmanager
def process(command: list[str], env: dict[str, str] | None = None) -> Iterator[int]:
    """Run `command` in a process group of its own; yields the group id."""
    child = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield child.pid
    finally:
        # Only the group this benchmark started (uvicorn's workers, nginx's workers).
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def feed_env(settings: Settings, port: int) -> dict[str, str]:
    assert settings.database_url and settings.redis_url
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "LOWKEY_SECRET_KEY": SECRET_KEY,
        "LOWKEY_FEED_PORT": str(port),
        "LOWKEY_PUBLIC_URL": settings.public_url,
        # The per-request log line is left out of every run alike: uvicorn's worker
        # processes (--workers) start without the parent's log set-up.
        "LOWKEY_LOG_LEVEL": "warning",
    }


def report(label: str, run: Run) -> None:
    print(
        f"  {label:<40} {run.rate:>8.0f} req/s   p99 {run.p99_ms:7.2f} ms"
        f"   CPU/req: server {run.cpu_us:5.0f} us, PostgreSQL {run.db_cpu_us:4.0f} us",
        flush=True,
    )


def bench_feed_server(
    settings: Settings, path: str, workers: int, database: str
) -> tuple[dict[str, Run], bytes]:
    port = free_port()
    lowkey = str(Path(sys.executable).with_name("lowkey"))
    base = f"http://127.0.0.1:{port}"
    command = [lowkey, "feed", "--workers", str(workers)]
    runs: dict[str, Run] = {}
    with process(command, feed_env(settings, port)) as pgid:
        wait_until_up(base + "/healthz")
        status, body, headers = fetch(base + path)
        assert status == 200 and body.count(b"BEGIN:VEVENT") == EVENTS, (status, len(body))
        etag = headers["etag"]
        assert fetch(base + path, {"If-None-Match": etag})[0] == 304
        print(f"feed service, {workers} process(es), feed of {len(body)} bytes:", flush=True)
        for label, url, header in (
            ("(a) feed 200", base + path, None),
            ("(b) feed 304 (If-None-Match)", base + path, f"If-None-Match: {etag}"),
            ("(c) /healthz (constant, the ceiling)", base + "/healthz", None),
        ):
            runs[label[:3]] = run = wrk(url, pgid, header, database)
            report(label, run)
    ratio_200 = runs["(a)"].rate / runs["(c)"].rate
    ratio_304 = runs["(b)"].rate / runs["(c)"].rate
    verdict = "meets" if ratio_200 >= GOAL else "below"
    print(
        f"  feed/ceiling: 200 {ratio_200:.0%}, 304 {ratio_304:.0%} ({verdict} the {GOAL:.0%} goal)",
        flush=True,
    )
    # What the throughput ratio would be if CPU were the only limit and the database had
    # cores of its own (as in production): the ceiling's CPU per request over the feed's.
    by_cpu = runs["(c)"].cpu_us / runs["(a)"].cpu_us
    with_db = runs["(c)"].cpu_us / (runs["(a)"].cpu_us + runs["(a)"].db_cpu_us)
    print(
        f"  by CPU per request: feed 200 at {by_cpu:.0%} of the ceiling with PostgreSQL "
        f"elsewhere, {with_db:.0%} with it on the same cores",
        flush=True,
    )
    return runs, body


def bench_nginx(body: bytes) -> None:
    nginx = ensure_tool("nginx", "nginx-light")
    if nginx is None:
        print("nginx not installed (apt-get install nginx-light): static reference skipped")
        return
    root = Path(tempfile.mkdtemp(prefix="lowkey-bench-nginx-"))
    try:
        (root / "www").mkdir()
        (root / "tmp").mkdir()
        (root / "www" / "feed.ics").write_bytes(body)
        # nginx's workers run as www-data: they must be able to read the file.
        for path in (root, root / "www", root / "www" / "feed.ics"):
            path.chmod(0o755)
        port = free_port()
        workers = os.cpu_count() or 1
        conf = root / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=workers, root=root, port=port))
        url = f"http://127.0.0.1:{port}/feed.ics"
        with process([nginx, "-c", str(conf), "-p", str(root)]) as pgid:
            wait_until_up(url)
            etag = fetch(url)[2]["ETag"]
            print(f"nginx, {workers} worker(s), the same bytes as a static file:", flush=True)
            report("(d) nginx 200", wrk(url, pgid))
            report("(d) nginx 304 (If-None-Match)", wrk(url, pgid, f"If-None-Match: {etag}"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def ensure_tool(binary: str, package: str) -> str | None:
    """The path of `binary`, installing Debian's `package` first when it is missing."""
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        print(f"installing {package} (apt-get) ...", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", package],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            check=False,
        )
        found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")
    return found


def main() -> None:
    if ensure_tool("wrk", "wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    run = secrets.token_hex(4)
    data_dir = Path(tempfile.mkdtemp(prefix="lowkey-bench-feed-"))
    base = Settings(
        database_url=os.environ.get("DATABASE_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
        data_dir=data_dir,
    )
    resolved, servers = ensure_servers(base)
    assert resolved.database_url and resolved.redis_url
    name = f"lowkey_bench_feed_{run}"
    try:
        database_url = asyncio.run(create_database(resolved.database_url, name))
        settings = Settings(
            database_url=database_url,
            redis_url=resolved.redis_url,
            data_dir=data_dir,
            public_url="http://127.0.0.1:8000",
            feed_base_url="http://127.0.0.1:8001",
            admin_key=ADMIN_KEY,
            secret_key=SECRET_KEY,
            redis_prefix=f"lowkey-bench-{run}",
            profile_rate_limit=10_000,
        )
        path = asyncio.run(seed(settings))
        cores = os.cpu_count() or 1
        print(
            f"wrk -t2 -c{CONNECTIONS} -d{DURATION_S}s --latency on 127.0.0.1 "
            f"({cores} cores shared by wrk, the server and PostgreSQL)",
            flush=True,
        )
        results: dict[int, dict[str, Run]] = {}
        body = b""
        for workers in sorted({1, cores}):
            results[workers], body = bench_feed_server(settings, path, workers, name)
        bench_nginx(body)
        if len(results) > 1:
            one, many = results[1]["(a)"].rate, results[cores]["(a)"].rate
            print(f"feed 200 with {cores} processes vs 1: x{many / one:.2f}", flush=True)
    finally:
        asyncio.run(drop_database(resolved.database_url, name))
        servers.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
