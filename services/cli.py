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
import time
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec
import uvicorn

from shared.db.migrate import MigrationError, migrate_url
from shared.http.server import server_config, server_options
from shared.logs import configure_logging, log_part
from shared.runtime import EmbeddedError, EmbeddedServers, ensure_servers, generated_secret
from shared.settings import Settings, SettingsError, load_settings

log = logging.getLogger("lowkey")

# The parts a command runs alone, named on each of its log lines.
PARTS = ("api", "feed", "worker")
# How long `lowkey up` waits for every part to answer before it prints where they are.
BANNER_WAIT_S = 30.0


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
    from services.worker.process import WorkerProcess

    assert settings.database_url is not None
    applied = await migrate_url(settings.database_url)
    if applied:
        log.info("migrations applied", extra={"applied": applied})
    demo_block = await _demo_block(settings) if demo else None
    api = _uvicorn_server(create_api(settings), settings, settings.api_port)
    feed = _uvicorn_server(create_feed(settings), settings, settings.feed_port)
    worker = WorkerProcess(settings)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    tasks = [
        asyncio.create_task(_as_part("api", api.serve()), name="api"),
        asyncio.create_task(_as_part("feed", feed.serve()), name="feed"),
        asyncio.create_task(worker.supervise(stop), name="worker"),
    ]
    done_waiter = asyncio.create_task(stop.wait())
    banner = asyncio.create_task(_banner_when_up(settings, api, feed, worker, demo_block))
    finished, _ = await asyncio.wait([done_waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    banner.cancel()
    for task in finished:
        if task is not done_waiter and task.exception() is not None:
            log.error(
                "a part stopped", extra={"part": task.get_name(), "error": repr(task.exception())}
            )
    log.info("stopping")
    stop.set()
    api.should_exit = True
    feed.should_exit = True
    await asyncio.wait(tasks, timeout=15)
    for task in tasks:
        if not task.done():
            task.cancel()
    await asyncio.gather(*tasks, banner, return_exceptions=True)
    done_waiter.cancel()
    log.info("stopped")


async def _as_part(name: str, work: Coroutine[Any, Any, None]) -> None:
    """Run `work` with its log lines (and those of the tasks it starts) naming `name`."""
    log_part(name)
    await work


async def _banner_when_up(
    settings: Settings,
    api: uvicorn.Server,
    feed: uvicorn.Server,
    worker: Any,
    demo_block: str | None,
) -> None:
    """Print where everything is once every part answers, so it is the last thing on
    screen rather than lost above the start-up lines."""
    deadline = time.monotonic() + BANNER_WAIT_S
    servers_up = worker_up = False
    while time.monotonic() < deadline and not (servers_up and worker_up):
        servers_up = api.started and feed.started
        worker_up = not worker.alive() or await _port_answers(
            settings.host, settings.worker_metrics_port
        )
        await asyncio.sleep(0.1)
    print(_banner(settings, demo_block), flush=True)


async def _port_answers(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _banner(settings: Settings, demo_block: str | None) -> str:
    worker_url = f"http://{settings.host}:{settings.worker_metrics_port}"
    lines = [
        "",
        "lowkey is up:",
        f"  API:            {settings.public_url}  (docs at {settings.public_url}/schema)",
        f"  feeds:          {settings.feed_base_url}",
        f"  admin console:  {settings.public_url}/admin",
        f"  admin key:      {settings.admin_key}  (kept in {settings.data_dir}/secrets)",
        f"  worker health:  {worker_url}/healthz",
    ]
    if demo_block:
        lines += ["", demo_block]
    lines += ["", "Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


async def _demo_block(settings: Settings) -> str | None:
    """The demo city's keys and feed: loaded now, or kept from when it was loaded."""
    try:
        from shared.demo import load_demo
    except ImportError:
        log.warning("the demo city is not available in this build")
        return None
    from shared.demo_keys import keep_demo_keys, shown_demo_keys

    block = await load_demo(settings)
    if block is not None:
        keep_demo_keys(settings.data_dir, block)
        return block
    return await shown_demo_keys(settings)


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
    # `lowkey up` names the api, feed and worker on each of their lines itself.
    configure_logging(settings.log_level, part=args.command if args.command in PARTS else "lowkey")
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
