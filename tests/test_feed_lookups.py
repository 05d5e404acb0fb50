"""Feed lookups that wait together share one query, and each still gets its own answer.

On the real database: the batcher runs shared.db.feeds.feed_states, wrapped only to count
and hold queries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.feed.lookups import LookupBatcher
from shared.crypto import token_hash
from shared.db.feeds import FeedState, create_feed_pool, feed_state, feed_states
from shared.settings import Settings
from tests.factories import create_organiser
from tests.test_feed_service import (
    feed_path,
    feed_token,
    get_feed,
    match,
    monday,
    new_event,
    new_profile,
    read_everywhere,
    uid,
)

Client = AsyncTestClient[Any]


class Counted:
    """feed_states on the pool, counting queries and their sizes; `gate` holds them."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.batches: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def __call__(self, batch: Sequence[tuple[bytes, str | None]]) -> list[FeedState | None]:
        self.batches.append(len(batch))
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return await feed_states(self.pool, batch)


def hashed(settings: Settings, profile: dict[str, Any]) -> bytes:
    return token_hash(settings.secret_key or "", feed_token(profile), purpose="feed")


async def test_waiting_lookups_share_a_query_and_each_gets_its_own_state(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    profiles = [await new_profile(api, max_events_per_week=n) for n in (1, 2, 3)]
    fetch = Counted(pool)
    batcher = LookupBatcher(fetch, lanes=1)
    unknown = token_hash(settings.secret_key or "", "A" * 32, purpose="feed")
    wanted = [hashed(settings, p) for p in profiles] + [unknown, hashed(settings, profiles[0])]

    found = await asyncio.gather(*(batcher.state(h, None) for h in wanted))

    assert fetch.batches == [5]
    assert [s.profile_id if s else None for s in found] == [
        profiles[0]["id"],
        profiles[1]["id"],
        profiles[2]["id"],
        None,
        profiles[0]["id"],
    ]
    assert [s.max_events_per_week for s in found if s] == [1, 2, 3, 1]
    # The batched read says what the single read says.
    for h, state in zip(wanted, found, strict=True):
        assert state == await feed_state(pool, h, None)


async def test_lookups_arriving_while_a_query_is_out_go_in_the_next_batch(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    profiles = [await new_profile(api) for _ in range(4)]
    fetch = Counted(pool)
    fetch.gate.clear()
    batcher = LookupBatcher(fetch, lanes=1, max_batch=2)

    first = asyncio.ensure_future(batcher.state(hashed(settings, profiles[0]), None))
    await asyncio.sleep(0.01)  # the first query is out (held at the gate)
    rest = [asyncio.ensure_future(batcher.state(hashed(settings, p), None)) for p in profiles[1:]]
    await asyncio.sleep(0.01)
    assert fetch.batches == [1]
    fetch.gate.set()
    found = await asyncio.gather(first, *rest)

    assert fetch.batches == [1, 2, 1]  # max_batch bounds each query
    assert [s.profile_id for s in found if s] == [p["id"] for p in profiles]


async def test_a_failed_query_fails_each_of_its_lookups_and_the_next_batch_runs(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    profile = await new_profile(api)
    fetch = Counted(pool)
    fetch.fail = asyncpg.CannotConnectNowError("the database system is starting up")
    batcher = LookupBatcher(fetch)

    results = await asyncio.gather(
        batcher.state(hashed(settings, profile), None),
        batcher.state(hashed(settings, profile), None),
        return_exceptions=True,
    )
    assert all(isinstance(r, asyncpg.CannotConnectNowError) for r in results)

    fetch.fail = None
    state = await batcher.state(hashed(settings, profile), None)
    assert state is not None and state.profile_id == profile["id"]


async def test_a_cancelled_lookup_leaves_the_others_of_its_batch_answered(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    profiles = [await new_profile(api) for _ in range(2)]
    fetch = Counted(pool)
    fetch.gate.clear()
    batcher = LookupBatcher(fetch, lanes=1)
    gone = asyncio.ensure_future(batcher.state(hashed(settings, profiles[0]), None))
    kept = asyncio.ensure_future(batcher.state(hashed(settings, profiles[1]), None))
    await asyncio.sleep(0.01)
    gone.cancel()  # the client hung up
    fetch.gate.set()

    state = await kept
    assert state is not None and state.profile_id == profiles[1]["id"]
    with pytest.raises(asyncio.CancelledError):
        await gone
    await batcher.close()


async def test_concurrent_polls_of_many_feeds_each_get_their_own_bytes_and_validators(
    api: Client, feed: Client, pool: asyncpg.Pool, admin_headers: dict[str, str]
) -> None:
    _, key = await create_organiser(api, admin_headers)
    events = [await new_event(api, key, monday(1), title=f"Table {n}") for n in range(3)]
    profiles = [await new_profile(api) for _ in events]
    for profile, event in zip(profiles, events, strict=True):
        await match(pool, profile, event)
    first = [await get_feed(feed, p) for p in profiles]
    etags = [r.headers["etag"] for r in first]
    assert len(set(etags)) == 3

    # Each profile twice: once unconditional (200), once with its own ETag (304); plus a
    # miss. All at once, so they share queries; each answer must still be its own.
    polls = [feed.get(feed_path(p)) for p in profiles]
    polls += [
        feed.get(feed_path(p), headers={"If-None-Match": e})
        for p, e in zip(profiles, etags, strict=True)
    ]
    polls.append(feed.get("/feeds/" + "B" * 32 + ".ics"))
    answers = await asyncio.gather(*polls)

    for n, (profile, event) in enumerate(zip(profiles, events, strict=True)):
        full, conditional = answers[n], answers[3 + n]
        assert full.status_code == 200 and full.content == first[n].content
        assert full.headers["etag"] == etags[n]
        assert sorted(read_everywhere(full.content)["events"]) == [uid(event)]
        assert profile["id"] and conditional.status_code == 304
        assert conditional.headers["etag"] == etags[n] and conditional.content == b""
    assert answers[-1].status_code == 404


async def test_no_lookup_is_stranded_when_lanes_finish_as_it_arrives(
    api: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    profile = await new_profile(api)
    wanted = hashed(settings, profile)
    batcher = LookupBatcher(lambda batch: feed_states(pool, batch), lanes=2)

    async def one(delay_turns: int) -> FeedState | None:
        for _ in range(delay_turns):
            await asyncio.sleep(0)  # arrive at every possible point of a lane's life
        return await batcher.state(wanted, None)

    for _ in range(20):
        found = await asyncio.wait_for(asyncio.gather(*(one(n % 7) for n in range(30))), timeout=10)
        assert {s.profile_id if s else None for s in found} == {profile["id"]}


async def test_the_feed_pool_alone_commits_without_waiting_for_the_disk(
    database_url: str, pool: asyncpg.Pool
) -> None:
    """Stored renders can be made again; what the API writes must reach the disk."""
    feeds = await create_feed_pool(database_url, max_size=1)
    try:
        assert await feeds.fetchval("SHOW synchronous_commit") == "off"
    finally:
        await feeds.close()
    assert await pool.fetchval("SHOW synchronous_commit") == "on"
