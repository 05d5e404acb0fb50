"""The `lowkey` command: `up` runs everything in one terminal; each part also runs alone.

Settings are read once here and passed down; a bad one stops start-up with one line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec
import uvicorn

from shared.db.migrate import MigrationError, migrate_url
from shared.http.server import server_config, server_options
from shared.logs import configure_logging
from shared.runtime import EmbeddedError, EmbeddedServers, ensure_servers, generated_secret
from shared.settings import Settings, SettingsError, load_settings

log = logging.getLogger("lowkey")


class StartupError(RuntimeError):
    """Start-up cannot go on; the message is one line for the operator."""


def _lock_data_dir(data_dir: Path) -> IO[str]:
    """One `lowkey up` per data dir: a second would fight over the embedded servers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = (data_dir / "lowkey.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StartupError(
            f"lowkey is already running on {data_dir} (pid {holder}); stop it first"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _with_generated_secrets(settings: Settings) -> Settings:
    """`lowkey up` makes an admin key and a secret key once, kept in the data dir."""
    return msgspec.structs.replace(
        settings,
        admin_key=settings.admin_key or generated_secret(settings.data_dir, "admin_key"),
        secret_key=settings.secret_key or generated_secret(settings.data_dir, "secret_key"),
    )


def _require_keys(settings: Settings, role: str) -> None:
    if role == "api" and not settings.admin_key:
        raise StartupError("LOWKEY_ADMIN_KEY: must be set for `lowkey api`")
    if not settings.secret_key:
        raise StartupError(f"LOWKEY_SECRET_KEY: must be set for `lowkey {role}`")


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `lowkey up`, which stops every part at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _uvicorn_server(
    app: Any, settings: Settings, port: int, *, own_signals: bool = False
) -> uvicorn.Server:
    config = server_config(app, settings.host, port)
    return uvicorn.Server(config) if own_signals else _Server(config)


async def _run_all(settings: Settings, *, demo: bool) -> None:
    from services.api.app import create_app as create_api
    from services.feed.app import create_app as create_feed
    from services.worker.metrics import serve_metrics

    assert settings.database_url is not None
    applied = await migrate_url(settings.database_url)
    if applied:
        log.info("migrations applied", extra={"applied": applied})
    if demo:
        await _load_demo(settings)
    api = _uvicorn_server(create_api(settings), settings, settings.api_port)
    feed = _uvicorn_server(create_feed(settings), settings, settings.feed_port)
    serve_metrics(settings)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    tasks = [
        asyncio.create_task(api.serve(), name="api"),
        asyncio.create_task(feed.serve(), name="feed"),
        asyncio.create_task(_supervised_workers(settings, stop), name="worker"),
    ]
    print(
        f"lowkey is up: API {settings.public_url}  feeds {settings.feed_base_url}  "
        f"admin console {settings.public_url}/admin",
        flush=True,
    )
    done_waiter = asyncio.create_task(stop.wait())
    finished, _ = await asyncio.wait([done_waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in finished:
        if task is not done_waiter and task.exception() is not None:
            log.error(
                "a part stopped", extra={"part": task.get_name(), "error": repr(task.exception())}
            )
    log.info("stopping")
    api.should_exit = True
    feed.should_exit = True
    await asyncio.wait(tasks, timeout=15)
    for task in tasks:
        if not task.done():
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    done_waiter.cancel()


async def _supervised_workers(settings: Settings, stop: asyncio.Event) -> None:
    """The worker part of `lowkey up`, started again after it loses Redis (as a process
    supervisor would restart `lowkey worker`); pending work waits in the outbox."""
    from services.worker.main import create_chunk_worker, create_worker, run_workers

    delay = 0.5
    while not stop.is_set():
        try:
            await run_workers([create_worker(settings), create_chunk_worker(settings)], stop)
        except Exception as exc:
            log.warning("worker stopped; starting it again", extra={"error": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 4.0)


async def _load_demo(settings: Settings) -> None:
    try:
        from shared.demo import load_demo
    except ImportError:
        log.warning("the demo city is not available in this build")
        return
    info = await load_demo(settings)
    if info:
        print(info, flush=True)


def _start(settings: Settings) -> tuple[Settings, EmbeddedServers]:
    try:
        return ensure_servers(settings)
    except EmbeddedError as exc:
        raise StartupError(str(exc)) from exc


def cmd_up(settings: Settings, args: argparse.Namespace) -> None:
    settings = _with_generated_secrets(settings)
    lock = _lock_data_dir(settings.data_dir)
    settings, servers = _start(settings)
    try:
        print(f"admin key: {settings.admin_key}  (kept in {settings.data_dir}/secrets)", flush=True)
        asyncio.run(_run_all(settings, demo=args.demo))
    finally:
        servers.stop()
        lock.close()


def _serve_http(settings: Settings, role: str, port: int, workers: int) -> None:
    settings, servers = _start(settings)
    try:
        if workers > 1:
            if servers.database_url or servers.redis_url:
                raise StartupError("--workers > 1 needs DATABASE_URL and REDIS_URL")
            uvicorn.run(
                f"services.{role}.app:app_from_env",
                factory=True,
                workers=workers,
                **server_options(settings.host, port),
            )
            return
        module = __import__(f"services.{role}.app", fromlist=["create_app"])
        server = _uvicorn_server(module.create_app(settings), settings, port, own_signals=True)
        asyncio.run(server.serve())
    finally:
        servers.stop()


def cmd_api(settings: Settings, args: argparse.Namespace) -> None:
    _require_keys(settings, "api")
    _serve_http(settings, "api", settings.api_port, args.workers)


def cmd_feed(settings: Settings, args: argparse.Namespace) -> None:
    _require_keys(settings, "feed")
    _serve_http(settings, "feed", settings.feed_port, args.workers)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> None:
    from services.worker.main import run_worker
    from services.worker.memory import keep_freed_memory

    keep_freed_memory()  # before any thread starts (embedded servers, metrics, executor)
    _require_keys(settings, "worker")
    settings, servers = _start(settings)
    try:
        asyncio.run(run_worker(settings))
    finally:
        servers.stop()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    settings, servers = _start(settings)
    try:
        assert settings.database_url is not None
        applied = asyncio.run(migrate_url(settings.database_url))
        print(
            f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
        )
    except MigrationError as exc:
        raise StartupError(str(exc)) from exc
    finally:
        servers.stop()


def cmd_create_organiser(settings: Settings, args: argparse.Namespace) -> None:
    from services.api.organisers import create_organiser_cli

    _require_keys(settings, "create-organiser")
    settings, servers = _start(settings)
    try:
        print(asyncio.run(create_organiser_cli(settings, args.name, args.email)))
    finally:
        servers.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lowkey", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="migrate, then run the API, feed service and worker together")
    up.add_argument("--demo", action="store_true", help="load the demo city into an empty database")
    up.set_defaults(func=cmd_up)
    for name, func in (("api", cmd_api), ("feed", cmd_feed)):
        p = sub.add_parser(name, help=f"run the {name} service alone")
        p.add_argument("--workers", type=int, default=1, help="processes (needs URLs when > 1)")
        p.set_defaults(func=func)
    sub.add_parser("worker", help="run an arq worker").set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)
    org = sub.add_parser("create-organiser", help="create an organiser and print its API key")
    org.add_argument("name")
    org.add_argument("--email", required=True)
    org.set_defaults(func=cmd_create_organiser)
    return parser


def main(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(os.environ if env is None else env)
    except SettingsError as exc:
        print(f"lowkey: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        args.func(settings, args)
    except StartupError as exc:
        print(f"lowkey: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
