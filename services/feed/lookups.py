"""Feed lookups that arrive together share one database round trip.

Why: a feed poll is the hottest path (over a thousand a second per million users), and its
cost is dominated not by the index read but by the round trip around it: the syscalls, the
wake-ups of PostgreSQL's backend and of this process, and the backend's per-statement work.
Lookups that are waiting at the same moment go out as one `unnest` query (many different
tokens). Not a cache: every lookup reads the rows as they are when its query runs, and an
idle server sends a lone lookup at once (a batch of one), so batching adds no wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from shared.db.feeds import FeedState

Fetch = Callable[[Sequence[tuple[bytes, str | None]]], Coroutine[Any, Any, list[FeedState | None]]]
# Queries in flight at once: one fills while another is out, so no lookup waits long for a
# batch to leave; more would mostly split batches (and round trips) again.
LANES = 2
# Bounded so one batch's bodies (up to ~20 KB each) stay a modest read.
MAX_BATCH = 64

_Pending = tuple[bytes, str | None, asyncio.Future[FeedState | None]]


class LookupBatcher:
    """Runs `fetch` (shared.db.feeds.feed_states on the feed pool) for waiting lookups."""

    def __init__(self, fetch: Fetch, *, lanes: int = LANES, max_batch: int = MAX_BATCH) -> None:
        self._fetch = fetch
        self._lanes = lanes
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        # Lanes draining now: counted down by the lane itself in the same step as its last
        # look at `_pending` (a done-callback would run later, stranding a lookup between).
        self._active = 0
        self._running: set[asyncio.Task[None]] = set()  # held: the loop keeps weak refs only

    async def state(self, token_hash: bytes, known_etag: str | None) -> FeedState | None:
        """The feed state for one token hash, read in the next batch that leaves."""
        future: asyncio.Future[FeedState | None] = asyncio.get_running_loop().create_future()
        self._pending.append((token_hash, known_etag, future))
        if self._active < self._lanes:
            self._active += 1
            # Started now, it runs on the loop's next turn: lookups that arrive in this
            # turn (the same burst of requests) join its first batch.
            task = asyncio.create_task(self._drain())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        return await future

    async def _drain(self) -> None:
        try:
            await self._drain_pending()
        finally:
            self._active -= 1

    async def _drain_pending(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                found = await self._fetch([(h, etag) for h, etag, _ in batch])
            except asyncio.CancelledError:
                for _, _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # each waiting request answers it (e.g. a 503)
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), state in zip(batch, found, strict=True):
                if not future.done():  # its request may have been cancelled meanwhile
                    future.set_result(state)

    async def close(self) -> None:
        """Stop the batches in flight (app shutdown); their requests get CancelledError."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        for _, _, future in self._pending:
            future.cancel()
        self._pending.clear()
