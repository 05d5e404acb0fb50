"""A mixed load over loopback HTTP: ~90 % feed polls with If-None-Match, ~10 % organiser
and user writes (event posts and edits, profile creates and updates).

Every request's latency and status is kept; every write is kept in a `Ledger` (what was
sent, and whether it was acknowledged) so a drill can prove no acknowledged write was lost.
Bounded by a deadline and a request count.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from benchmarks.cluster import ADMIN_KEY

TAGS = ("board-games", "walking", "book-club", "knitting", "chess", "gardening", "crafts", "tea")
CENTRE = (52.52, 13.405)  # Berlin; everything within about 10 km
REQUEST_TIMEOUT_S = 10.0
EVENTS = "SELECT id, title FROM events WHERE id = ANY($1::bigint[])"
PROFILES = "SELECT id, display_name FROM profiles WHERE id = ANY($1::bigint[])"


@dataclass
class Sample:
    started: float  # time.time()
    seconds: float
    kind: str
    status: int  # 0: no answer (connection refused, timeout)
    retry_after: bool


@dataclass
class Ledger:
    """Writes by entity ("event", id) / ("profile", id): the last acknowledged value and
    any values sent after it without an answer (they may or may not have committed)."""

    acked: dict[tuple[str, int], str] = field(default_factory=dict)
    maybe: dict[tuple[str, int], list[str]] = field(default_factory=lambda: defaultdict(list))
    acked_writes: int = 0
    unacked_writes: int = 0

    def ack(self, key: tuple[str, int], value: str) -> None:
        self.acked[key] = value
        self.maybe.pop(key, None)
        self.acked_writes += 1

    def unacked(self, key: tuple[str, int] | None, value: str) -> None:
        self.unacked_writes += 1
        if key is not None:
            self.maybe[key].append(value)


@dataclass
class Organiser:
    id: int
    key: str
    events: list[int] = field(default_factory=list)


@dataclass
class User:
    id: int
    token: str
    feed_path: str
    etag: str | None = None


@dataclass
class World:
    """What the load works on, and what it found out."""

    api: list[str]
    feeds: list[str]
    organisers: list[Organiser] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    samples: list[Sample] = field(default_factory=list)
    busy: set[tuple[str, int]] = field(default_factory=set)
    serial: int = 0

    def next(self) -> int:
        self.serial += 1
        return self.serial


def _point(rng: random.Random, km: float = 10.0) -> tuple[float, float]:
    return (
        round(CENTRE[0] + rng.uniform(-km, km) / 111.2, 5),
        round(CENTRE[1] + rng.uniform(-km, km) / 67.8, 5),
    )


def event_body(rng: random.Random, title: str) -> dict[str, Any]:
    lat, lon = _point(rng)
    month, day, hour = rng.randint(1, 9), rng.randint(1, 27), rng.randint(10, 19)
    fmt = rng.choice(["in_person", "in_person", "hybrid"])
    return {
        "title": title,
        "description": "A quiet table, simple games, a host who explains.",
        "starts_at": f"2030-0{month}-{day:02d}T{hour:02d}:00:00",
        "ends_at": f"2030-0{month}-{day:02d}T{hour + 2:02d}:00:00",
        "timezone": "Europe/Berlin",
        "format": fmt,
        "venue": {"name": "Hall", "address": "Somewhere 1, Berlin", "lat": lat, "lon": lon},
        "online_url": "https://meet.example.org/drill" if fmt == "hybrid" else None,
        "tags": rng.sample(TAGS, rng.randint(1, 3)),
        "group_size": rng.randint(4, 20),
        "structure": rng.choice(["structured", "semi", "open"]),
        "noise": rng.choice(["quiet", "moderate"]),
        "talking_optional": rng.random() < 0.7,
        "newcomer_support": rng.random() < 0.7,
        "cost_cents": 0,
        "currency": "EUR",
        "accessibility": [],
        "languages": ["de", "en"],
    }


def profile_body(rng: random.Random, name: str) -> dict[str, Any]:
    lat, lon = _point(rng)
    return {
        "display_name": name,
        "home": {"lat": lat, "lon": lon},
        "radius_km": round(rng.uniform(2, 12), 1),
        "interests": {t: round(rng.uniform(0.2, 1), 2) for t in rng.sample(TAGS, 3)},
        "comfort_level": rng.randint(1, 5),
        "open_to_stretch": rng.random() < 0.3,
        "timezone": "Europe/Berlin",
    }


def _forwarded(rng: random.Random) -> dict[str, str]:
    """A client address per call, as a proxy in front would say (profile creation is
    rate limited per address)."""
    return {
        "X-Forwarded-For": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    }


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _call(
    world: World, client: httpx.AsyncClient, kind: str, method: str, url: str, **kw: Any
) -> httpx.Response | None:
    started, t0 = time.time(), time.perf_counter()
    response: httpx.Response | None = None
    with contextlib.suppress(httpx.HTTPError):
        response = await client.request(method, url, timeout=REQUEST_TIMEOUT_S, **kw)
    status = response.status_code if response is not None else 0
    retry = response is not None and "retry-after" in response.headers
    world.samples.append(Sample(started, time.perf_counter() - t0, kind, status, retry))
    return response


async def seed(
    world: World, *, organisers: int, events: int, users: int, seed_: int = 7, concurrency: int = 8
) -> None:
    """Organisers, their events and users through the API (outside any measurement)."""
    rng = random.Random(seed_)
    api = world.api[0]
    async with httpx.AsyncClient() as client:
        for i in range(organisers):
            r = await client.post(
                f"{api}/v1/admin/organisers",
                json={"name": f"Drill organiser {i}", "contact_email": "host@example.org"},
                headers=_bearer(ADMIN_KEY),
            )
            r.raise_for_status()
            world.organisers.append(Organiser(r.json()["id"], r.json()["api_key"]))
        sem = asyncio.Semaphore(concurrency)

        async def one_event(n: int) -> None:
            org = world.organisers[n % len(world.organisers)]
            title = f"seed event {n}"
            async with sem:
                r = await client.post(
                    f"{world.api[n % len(world.api)]}/v1/events",
                    json=event_body(rng, title),
                    headers=_bearer(org.key),
                )
            r.raise_for_status()
            org.events.append(r.json()["id"])
            world.ledger.ack(("event", r.json()["id"]), title)

        async def one_user(n: int) -> None:
            name = f"seed user {n}"
            async with sem:
                r = await client.post(
                    f"{world.api[n % len(world.api)]}/v1/profiles",
                    json=profile_body(rng, name),
                    headers=_forwarded(rng),
                )
            r.raise_for_status()
            body = r.json()
            path = "/feeds/" + body["feed_url"].split("/feeds/", 1)[1]
            world.users.append(User(body["id"], body["token"], path))
            world.ledger.ack(("profile", body["id"]), name)

        await asyncio.gather(*(one_event(n) for n in range(events)))
        await asyncio.gather(*(one_user(n) for n in range(users)))


async def _poll_feed(world: World, client: httpx.AsyncClient, rng: random.Random) -> None:
    user = rng.choice(world.users)
    headers = {"If-None-Match": user.etag} if user.etag else {}
    r = await _call(
        world, client, "feed", "GET", rng.choice(world.feeds) + user.feed_path, headers=headers
    )
    if r is not None and r.status_code == 200:
        user.etag = r.headers.get("etag")


async def _write(world: World, client: httpx.AsyncClient, rng: random.Random) -> None:
    api = rng.choice(world.api)
    n = world.next()
    pick = rng.random()
    if pick < 0.3:  # an organiser posts an event
        org = rng.choice(world.organisers)
        title = f"drill event {n}"
        r = await _call(
            world,
            client,
            "event-post",
            "POST",
            f"{api}/v1/events",
            json=event_body(rng, title),
            headers=_bearer(org.key),
        )
        if r is not None and r.status_code == 201:
            org.events.append(r.json()["id"])
            world.ledger.ack(("event", r.json()["id"]), title)
        else:
            world.ledger.unacked(None, title)
        return
    if pick < 0.6:  # an organiser edits one of their events
        org = rng.choice(world.organisers)
        free = [e for e in org.events if ("event", e) not in world.busy]
        if not free:
            return
        key = ("event", rng.choice(free))
        title = f"edited event {n}"
        body = {"title": title, "tags": rng.sample(TAGS, rng.randint(1, 3))}
        world.busy.add(key)
        try:
            r = await _call(
                world,
                client,
                "event-edit",
                "PATCH",
                f"{api}/v1/events/{key[1]}",
                json=body,
                headers=_bearer(org.key),
            )
        finally:
            world.busy.discard(key)
        if r is not None and r.status_code == 200:
            world.ledger.ack(key, title)
        else:
            world.ledger.unacked(key, title)
        return
    if pick < 0.8:  # someone new signs up
        name = f"drill user {n}"
        r = await _call(
            world,
            client,
            "profile-create",
            "POST",
            f"{api}/v1/profiles",
            json=profile_body(rng, name),
            headers=_forwarded(rng),
        )
        if r is not None and r.status_code == 201:
            body = r.json()
            path = "/feeds/" + body["feed_url"].split("/feeds/", 1)[1]
            world.users.append(User(body["id"], body["token"], path))
            world.ledger.ack(("profile", body["id"]), name)
        else:
            world.ledger.unacked(None, name)
        return
    free_users = [
        u
        for u in rng.sample(world.users, min(5, len(world.users)))
        if ("profile", u.id) not in world.busy
    ]
    if not free_users:
        return
    user = free_users[0]
    key = ("profile", user.id)
    name = f"moved user {n}"
    body = profile_body(rng, name)
    del body["timezone"]
    world.busy.add(key)
    try:
        r = await _call(
            world,
            client,
            "profile-update",
            "PATCH",
            f"{api}/v1/me",
            json=body,
            headers=_bearer(user.token),
        )
    finally:
        world.busy.discard(key)
    if r is not None and r.status_code == 200:
        world.ledger.ack(key, name)
    else:
        world.ledger.unacked(key, name)


async def run_load(
    world: World,
    *,
    seconds: float,
    rate: float = 150.0,
    concurrency: int = 8,
    max_requests: int = 200_000,
    write_share: float = 0.1,
    stop: asyncio.Event | None = None,
    seed_: int = 11,
) -> None:
    """`rate` requests a second in all (paced per client) until the time, the count or
    `stop` runs out."""
    deadline = time.monotonic() + seconds
    stop = stop or asyncio.Event()
    limits = httpx.Limits(
        max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2
    )
    async with httpx.AsyncClient(limits=limits) as client:

        async def worker(i: int) -> None:
            rng = random.Random(seed_ * 1000 + i)
            interval = concurrency / rate
            next_at = time.monotonic() + rng.uniform(0, interval)
            while time.monotonic() < deadline and not stop.is_set():
                if len(world.samples) >= max_requests:
                    return
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at = max(next_at + interval, time.monotonic())
                if rng.random() < write_share:
                    await _write(world, client, rng)
                else:
                    await _poll_feed(world, client, rng)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))


async def lost_writes(database_url: str, ledger: Ledger) -> list[str]:
    """Every acknowledged write whose value is not in the database (nor a later attempt)."""
    conn = await asyncpg.connect(database_url)
    try:
        found: dict[tuple[str, int], str | None] = {}
        for kind, query in (("event", EVENTS), ("profile", PROFILES)):
            ids = [i for k, i in ledger.acked if k == kind]
            for row in await conn.fetch(query, ids):
                found[(kind, row[0])] = row[1]
    finally:
        await conn.close()
    lost = []
    for key, value in ledger.acked.items():
        stored = found.get(key)
        if stored != value and stored not in ledger.maybe.get(key, ()):
            lost.append(f"{key[0]} {key[1]}: wrote {value!r}, stored {stored!r}")
    return lost


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[Sample]) -> dict[str, Any]:
    """Requests, statuses, 5xx without Retry-After, p50/p99 (ms)."""
    statuses = Counter(s.status for s in samples)
    seconds = [s.seconds for s in samples]
    return {
        "requests": len(samples),
        "statuses": dict(sorted(statuses.items())),
        "5xx_without_retry_after": sum(1 for s in samples if s.status >= 500 and not s.retry_after),
        "p50_ms": percentile(seconds, 0.5) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
    }
