"""`lowkey up`'s worker: the worker in a process of its own (multiprocessing spawn, the
very same Settings), started again when it stops, stopped with SIGTERM and then SIGKILL.

Its own process, so a job that holds the worker's event loop or its CPU never stops the
API and the feeds from answering, nor `lowkey up` from stopping. Its logs go to the same
terminal, each line naming the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import signal
import sys
import time
from multiprocessing.process import BaseProcess

from shared.logs import configure_logging
from shared.settings import Settings

log = logging.getLogger("lowkey")

# After SIGTERM the worker cancels its jobs (each rolls back whole) and closes: a second
# or two. One that does not stop by then has a loop that does not turn: it is killed.
STOP_GRACE_S = 5.0
# A worker that stops (it lost Redis or PostgreSQL) is started again after this pause,
# doubling while it keeps stopping, as a container restart policy does.
RESTART_DELAY_S = (0.5, 4.0)
# Up this long: it was healthy, so the next restart comes quickly again.
HEALTHY_AFTER_S = 20.0
PR_SET_PDEATHSIG = 1


def worker_main(settings: Settings) -> None:
    """The child's entry point: `lowkey worker` with the settings of `lowkey up`."""
    from services.worker.main import run_worker
    from services.worker.memory import keep_freed_memory

    # Ctrl-C reaches every process of the terminal; the parent stops this one in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent()
    keep_freed_memory()  # before any thread starts
    configure_logging(settings.log_level, part="worker")
    try:
        asyncio.run(run_worker(settings))
    except Exception as exc:
        log.warning("the worker stopped", extra={"error": type(exc).__name__})
        sys.exit(1)


def _end_with_parent() -> None:
    """On Linux, SIGTERM this process when its parent dies (a `lowkey up` SIGKILLed), so
    no worker is left behind scoring for a service that is gone."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))


class WorkerProcess:
    """The worker child of `lowkey up` and its supervision."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    async def supervise(self, stop: asyncio.Event) -> None:
        """Run the worker until `stop` is set, starting it again whenever it stops."""
        delay = RESTART_DELAY_S[0]
        while not stop.is_set():
            # Started from the loop's (main) thread: the parent-death signal is tied to
            # the thread that starts the child.
            process = self._context.Process(
                target=worker_main, args=(self._settings,), name="lowkey-worker"
            )
            process.start()
            self._process = process
            started = time.monotonic()
            if not await self._exited_or_stopped(process, stop):
                await self.stop()
                return
            if stop.is_set():
                return
            if time.monotonic() - started > HEALTHY_AFTER_S:
                delay = RESTART_DELAY_S[0]
            log.warning(
                "the worker stopped; starting it again",
                extra={"exit_code": process.exitcode, "in_s": delay},
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, RESTART_DELAY_S[1])
            self.restarts += 1

    async def stop(self) -> None:
        """SIGTERM, and SIGKILL for a worker still running `STOP_GRACE_S` later."""
        process = self._process
        if process is None or process.exitcode is not None:
            return
        process.terminate()
        await asyncio.to_thread(process.join, STOP_GRACE_S)
        if process.exitcode is None:
            log.warning(
                "the worker did not stop on SIGTERM; killed",
                extra={"grace_s": STOP_GRACE_S},
            )
            process.kill()
            await asyncio.to_thread(process.join, 5)

    @staticmethod
    async def _exited_or_stopped(process: BaseProcess, stop: asyncio.Event) -> bool:
        """Wait until the process exits (True) or `stop` is set (False)."""
        loop = asyncio.get_running_loop()
        exited = loop.create_future()

        def on_exit() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(process.sentinel, on_exit)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([exited, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(process.sentinel)
            stopping.cancel()
        if exited.done():
            process.join()
            return True
        return False
