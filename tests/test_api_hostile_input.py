"""Hostile and careless input against the real API (SPEC "Domain": text and nesting;
"API shape": statuses). Each is answered with its 4xx problem+json naming the field as the
client sent it, within 1 s, while `/healthz` keeps answering, and nothing is stored.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.api.app import create_app
from shared.http.cursor import encode_cursor
from shared.settings import Settings
from tests.factories import bearer, create_organiser, event_body, post_event
from tests.test_api_profiles import profile_body

KIB = 1024
LIMIT = 64 * KIB
# Every table a request could write to: compared whole before and after each refusal.
WATCHED = (
    "events",
    "profiles",
    "organisers",
    "idempotency_records",
    "weight_versions",
    "active_weights",
    "outbox",
)
WEIGHTS = {
    "distance": 1,
    "interest": 1,
    "comfort": 1,
    "distance_decay_km": 5,
    "online_score": 0.6,
    "stretch_penalty": 0.4,
    "min_score": 0.3,
}


@dataclass
class World:
    organiser: str
    event_id: int
    profile: str
    admin: str


@pytest.fixture(scope="module")
async def hostile(settings: Settings) -> AsyncIterator[tuple[AsyncTestClient[Any], World]]:
    """One API for the module, and a world in it: refusals change nothing, so the tests
    can share them (the few that store add to it, and the snapshots are per request).
    What earlier tests left on the heap is frozen out of the collector meanwhile: a full
    collection of it would pause the loop past the 1 s these tests allow (seen once)."""
    gc.collect()
    gc.freeze()
    async with AsyncTestClient(app=create_app(settings), base_url="http://api.test") as client:
        admin = {"Authorization": f"Bearer {settings.admin_key}"}
        _, key = await create_organiser(client, admin)
        event = await post_event(client, key)
        profile = await client.post("/v1/profiles", json=profile_body())
        assert profile.status_code == 201, profile.text
        token = profile.json()["token"]
        try:
            yield client, World(key, int(event["id"]), token, str(settings.admin_key))
        finally:
            gc.unfreeze()


@pytest.fixture
def api(hostile: tuple[AsyncTestClient[Any], World]) -> AsyncTestClient[Any]:
    return hostile[0]


@pytest.fixture
def world(hostile: tuple[AsyncTestClient[Any], World]) -> World:
    return hostile[1]


async def snapshot(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        return {
            table: await conn.fetchval(
                f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))"
                f" FROM {table} t"
            )
            for table in WATCHED
        }


@dataclass
class Case:
    """One hostile request: who sends it, what, and the refusal it must get."""

    method: str
    path: str  # `{event}` is the world's event id
    status: int
    field: str | None = None  # the field the 422 names, as sent
    caller: str | None = None  # organiser | profile | admin | None (anonymous)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None


def _headers(case: Case, world: World) -> dict[str, str]:
    keys = {"organiser": world.organiser, "profile": world.profile, "admin": world.admin}
    headers = dict(case.headers or {})
    if case.caller is not None:
        headers.update(bearer(keys[case.caller]))
    if case.content is not None:
        headers.setdefault("content-type", "application/json")
    return headers


async def assert_refused(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, world: World, case: Case
) -> dict[str, Any]:
    before = await snapshot(pool)
    started = time.perf_counter()
    request = asyncio.create_task(
        api.request(
            case.method,
            case.path.format(event=world.event_id),
            json=case.json,
            content=case.content,
            headers=_headers(case, world),
        )
    )
    health = await api.get("/healthz")
    response = await request
    elapsed = time.perf_counter() - started
    assert health.status_code == 200
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert elapsed < 1.0, f"answered after {elapsed:.2f} s"
    problem: dict[str, Any] = response.json()
    if case.field is not None:
        named = [e["field"] for e in problem.get("errors", [])]
        assert case.field in named, problem
        reasons = " ".join(e["reason"] for e in problem["errors"])
        assert "regex" not in reasons and "Expected `" not in reasons, reasons
    assert await snapshot(pool) == before, "a refused request changed what is stored"
    return problem


# --- text: control characters and bidi controls, in every text field -------------------

# In every text field, on POST and PATCH.
BAD_EVERYWHERE = {"nul": "a\x00b", "bidi-override": "abc\u202edcba"}
# The other control characters, in one field that may have lines and in one that may not.
BAD_ANYWHERE = {
    "escape": "a\x1bb",
    "delete": "a\x7fb",
    "c1-next-line": "a\x85b",
    "bidi-isolate": "a\u2066b\u2069",
    "vertical-tab": "a\x0bb",
    "form-feed": "a\x0cb",
}
BAD_ON_ONE_LINE = {"line-feed": "a\nb", "trailing-line-feed": "ab\n", "tab": "a\tb", "cr": "a\rb"}


def _venue(**change: Any) -> dict[str, Any]:
    return {**event_body()["venue"], **change}


# (field as sent, makes the POST body, makes the PATCH body or None, may it have lines)
TEXT_FIELDS: list[tuple[str, Callable[[str], Any], Callable[[str], Any], bool]] = [
    ("title", lambda v: event_body(title=v), lambda v: {"title": v}, False),
    ("description", lambda v: event_body(description=v), lambda v: {"description": v}, True),
    (
        "venue.name",
        lambda v: event_body(venue=_venue(name=v)),
        lambda v: {"venue": _venue(name=v)},
        False,
    ),
    (
        "venue.address",
        lambda v: event_body(venue=_venue(address=v)),
        lambda v: {"venue": _venue(address=v)},
        True,
    ),
    (
        "first_visit.how_to_find",
        lambda v: event_body(first_visit={"how_to_find": v}),
        lambda v: {"first_visit": {"how_to_find": v}},
        True,
    ),
    (
        "first_visit.greeter",
        lambda v: event_body(first_visit={"greeter": f"Sam {v}"}),
        lambda v: {"first_visit": {"greeter": f"Sam {v}"}},
        True,
    ),
    (
        "first_visit.what_to_bring",
        lambda v: event_body(first_visit={"what_to_bring": v}),
        lambda v: {"first_visit": {"what_to_bring": v}},
        True,
    ),
    (
        "online_url",
        lambda v: event_body(online_url=f"https://x.example/{v}"),
        lambda v: {"online_url": f"https://x.example/{v}"},
        False,
    ),
]
PROFILE_TEXT = [
    ("display_name", lambda v: profile_body(display_name=v)),
    ("calendar_label", lambda v: profile_body(feed_style="discreet", calendar_label=f"P{v}")),
]
ORGANISER_TEXT = [
    ("name", lambda v: {"name": v, "contact_email": "host@example.org"}),
    ("contact_email", lambda v: {"name": "Host", "contact_email": f"host{v}@example.org"}),
]
WEIGHT_TEXT = [
    ("note", lambda v: {**WEIGHTS, "note": v}),
    ("author", lambda v: {**WEIGHTS, "note": "tuning", "author": v}),
]


def _event_cases(name: str, post: Any, patch: Any, kind: str, value: str) -> list[Any]:
    return [
        pytest.param(
            Case("POST", "/v1/events", 422, name, "organiser", json=post(value)),
            id=f"post-event-{name}-{kind}",
        ),
        pytest.param(
            Case("PATCH", "/v1/events/{event}", 422, name, "organiser", patch(value)),
            id=f"patch-event-{name}-{kind}",
        ),
    ]


def text_cases() -> list[Any]:
    cases = []
    for kind, value in BAD_EVERYWHERE.items():
        for name, post, patch, _ in TEXT_FIELDS:
            cases += _event_cases(name, post, patch, kind, value)
        for name, make in PROFILE_TEXT:
            cases += [
                pytest.param(
                    Case("POST", "/v1/profiles", 422, name, json=make(value)),
                    id=f"post-profile-{name}-{kind}",
                ),
                pytest.param(
                    Case("PATCH", "/v1/me", 422, name, "profile", json={name: value}),
                    id=f"patch-me-{name}-{kind}",
                ),
            ]
        for name, make in ORGANISER_TEXT:
            cases.append(
                pytest.param(
                    Case("POST", "/v1/admin/organisers", 422, name, "admin", json=make(value)),
                    id=f"post-organiser-{name}-{kind}",
                )
            )
        for name, make in WEIGHT_TEXT:
            cases.append(
                pytest.param(
                    Case("PUT", "/v1/admin/weights", 422, name, "admin", json=make(value)),
                    id=f"put-weights-{name}-{kind}",
                )
            )
    title, description = TEXT_FIELDS[0], TEXT_FIELDS[1]
    for kind, value in BAD_ANYWHERE.items():
        cases += _event_cases(*title[:3], kind, value)
        cases += _event_cases(*description[:3], kind, value)
    for kind, value in BAD_ON_ONE_LINE.items():
        cases += _event_cases(*title[:3], kind, value)
        cases.append(
            pytest.param(
                Case("PATCH", "/v1/me", 422, "display_name", "profile", {"display_name": value}),
                id=f"patch-me-display_name-{kind}",
            )
        )
    return cases


@pytest.mark.parametrize("case", text_cases())
async def test_control_characters_in_text_get_422_naming_the_field(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, world: World, case: Case
) -> None:
    await assert_refused(api, pool, world, case)


async def test_text_with_lines_keeps_them_as_lf_and_tabs_as_spaces(
    api: AsyncTestClient[Any], world: World
) -> None:
    created = await post_event(
        api,
        world.organiser,
        description="Line one\r\nline two\rline three\n\tindented",
        venue=_venue(address="Breite Str. 30\r\n10178 Berlin"),
    )
    assert created["description"] == "Line one\nline two\nline three\n indented"
    assert created["venue"]["address"] == "Breite Str. 30\n10178 Berlin"
    with_visit = await post_event(
        api, world.organiser, first_visit={"how_to_find": "Side door\r\nroom 2\tfirst floor"}
    )
    assert with_visit["first_visit"]["how_to_find"] == "Side door\nroom 2 first floor"
    patched = await api.patch(
        f"/v1/events/{created['id']}",
        json={"description": "a\r\nb\tc"},
        headers=bearer(world.organiser),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["description"] == "a\nb c"
    read = await api.get(f"/v1/events/{created['id']}")
    assert read.json()["description"] == "a\nb c"


async def test_plain_unicode_text_is_kept_as_sent(api: AsyncTestClient[Any], world: World) -> None:
    title = 'Café ☕ — שלום — 読書会 [[[[[[[[[[[[ \\" {{{{{{{{{{{{'
    created = await post_event(api, world.organiser, title=title)
    assert created["title"] == title


# --- the body: nesting, numbers, size -----------------------------------------------------


def nested(depth: int) -> bytes:
    """An event body whose deepest point is `depth` levels down (the object is level 1)."""
    body = event_body()
    body["tags"] = "@"
    inner = json.dumps("board-games")
    for _ in range(depth - 1):
        inner = f"[{inner}]"
    return json.dumps(body).replace('"@"', inner).encode()


BODY_CASES = [
    pytest.param(
        Case("POST", "/v1/events", 400, caller="organiser", content=b"[" * 20000),
        id="events-20000-brackets",
    ),
    pytest.param(Case("POST", "/v1/profiles", 400, content=b"[" * 20000), id="profiles-brackets"),
    pytest.param(
        Case("POST", "/v1/profiles", 400, content=b"{" + b'"a":{' * 2000), id="profiles-braces"
    ),
    pytest.param(
        Case("POST", "/v1/events", 400, caller="organiser", content=nested(11)), id="depth-11"
    ),
    pytest.param(
        Case("POST", "/v1/events", 422, "tags[0]", "organiser", content=nested(10)),
        id="depth-10-is-parsed",
    ),
    pytest.param(
        Case("POST", "/v1/profiles", 400, content=b"[" * 11 + b"]" * 11), id="profiles-depth-11"
    ),
    pytest.param(
        Case("POST", "/v1/profiles", 422, "body", content=b"[" * 10 + b"]" * 10),
        id="profiles-depth-10-is-parsed",
    ),
    pytest.param(
        Case(
            "POST",
            "/v1/events",
            422,
            "cost_cents",
            "organiser",
            content=json.dumps(event_body(cost_cents=0))
            .replace('"cost_cents": 0', '"cost_cents": 1e309')
            .encode(),
        ),
        id="1e309",
    ),
    pytest.param(
        Case(
            "POST",
            "/v1/profiles",
            422,
            "home.lat",
            content=json.dumps(profile_body(home={"lat": 0, "lon": 1}))
            .replace('"lat": 0', '"lat": -1e400')
            .encode(),
        ),
        id="minus-1e400-nested",
    ),
    pytest.param(
        Case("POST", "/v1/profiles", 400, content=b'{"radius_km": NaN}'), id="nan-is-not-json"
    ),
    pytest.param(Case("POST", "/v1/profiles", 400, content=b'{"radius_km": 5,}'), id="not-json"),
]


@pytest.mark.parametrize("case", BODY_CASES)
async def test_bodies_that_cannot_be_read_are_refused(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, world: World, case: Case
) -> None:
    await assert_refused(api, pool, world, case)


def padded(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON, padded with trailing spaces (still JSON) to exactly `size` bytes."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


@pytest.mark.parametrize("idempotency", [False, True], ids=["plain", "idempotency-key"])
async def test_a_body_of_64_kib_is_read_and_one_byte_more_gets_413(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, world: World, idempotency: bool
) -> None:
    headers = {"Idempotency-Key": "size-check"} if idempotency else {}
    over = Case(
        "POST", "/v1/profiles", 413, content=padded(profile_body(), LIMIT + 1), headers=headers
    )
    await assert_refused(api, pool, world, over)
    at_limit = await api.post(
        "/v1/profiles",
        content=padded(profile_body(), LIMIT),
        headers={"content-type": "application/json", **headers},
    )
    assert at_limit.status_code == 201, at_limit.text


async def test_a_streamed_body_is_read_no_further_than_the_limit(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, world: World
) -> None:
    """No Content-Length (chunked): the server stops reading once past 64 KiB, so a huge
    body costs no memory; with an Idempotency-Key too, from an anonymous caller."""
    chunk = b" " * (16 * KIB)
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= 120 * 1024 * KIB:  # a 120 MB body: never reached
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/profiles",
        "raw_path": b"/v1/profiles",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"api.test"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            (b"idempotency-key", b"streamed-body"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("api.test", 80),
        "state": {},
    }
    before = await snapshot(pool)
    await asyncio.wait_for(api.app(scope, receive, send), timeout=1)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    assert (b"connection", b"close") in [(k.lower(), v) for k, v in start["headers"]]
    assert pulled <= LIMIT + len(chunk)
    assert await snapshot(pool) == before


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, world: World
) -> None:
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"{", "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/events",
        "raw_path": b"/v1/events",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"api.test"),
            (b"content-type", b"application/json"),
            (b"content-length", b"120000000"),
            (b"idempotency-key", b"declared-length"),
            (b"authorization", f"Bearer {world.organiser}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("api.test", 80),
        "state": {},
    }
    await asyncio.wait_for(api.app(scope, receive, send), timeout=1)
    assert sent[0]["status"] == 413 and pulled == 0


# --- who may ask: no idempotency record before the caller is known ------------------------


AUTH_CASES = [
    pytest.param(
        Case(
            "POST",
            "/v1/events",
            401,
            json=event_body(),
            headers={"Idempotency-Key": "k-1", "Authorization": "Bearer lk_org_not-a-real-key"},
        ),
        id="unknown-bearer-key",
    ),
    pytest.param(
        Case("POST", "/v1/events", 401, json=event_body(), headers={"Idempotency-Key": "k-2"}),
        id="anonymous",
    ),
    pytest.param(
        Case(
            "POST",
            "/v1/profiles",
            401,
            json=profile_body(),
            headers={"Idempotency-Key": "k-3", "Authorization": "Bearer nobody"},
        ),
        id="unknown-key-on-open-route",
    ),
    pytest.param(
        Case("POST", "/v1/me/feed/rotate", 401, headers={"Idempotency-Key": "k-4"}),
        id="anonymous-rotate",
    ),
    pytest.param(
        Case(
            "POST",
            "/v1/events",
            403,
            caller="profile",
            json=event_body(),
            headers={"Idempotency-Key": "k-5"},
        ),
        id="profile-token-posting-an-event",
    ),
    pytest.param(
        Case(
            "POST",
            "/v1/admin/organisers",
            403,
            caller="organiser",
            json={"name": "x", "contact_email": "a@b.cd"},
            headers={"Idempotency-Key": "k-6"},
        ),
        id="organiser-creating-an-organiser",
    ),
]


@pytest.mark.parametrize("case", AUTH_CASES)
async def test_callers_the_route_refuses_get_no_idempotency_record(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, world: World, case: Case
) -> None:
    await assert_refused(api, pool, world, case)


# --- values: code lists, parameters by their wire names, cursors --------------------------

NOT_A_CURSOR = encode_cursor("nope")
INFINITE_SCORE = encode_cursor("inf", 1)
PAST_BIGINT = encode_cursor("2030-01-01T00:00:00+00:00", 2**63)

VALUE_CASES = [
    pytest.param(
        Case("POST", "/v1/events", 422, "currency", "organiser", json=event_body(currency="ZZZ")),
        id="event-currency-ZZZ",
    ),
    pytest.param(
        Case(
            "POST",
            "/v1/events",
            422,
            "languages[1]",
            "organiser",
            event_body(languages=["en", "zz"]),
        ),
        id="event-language-zz",
    ),
    pytest.param(
        Case("POST", "/v1/events", 422, "timezone", "organiser", event_body(timezone="localtime")),
        id="event-timezone-localtime",
    ),
    pytest.param(
        Case("PATCH", "/v1/events/{event}", 422, "currency", "organiser", {"currency": "ZZZ"}),
        id="patch-event-currency",
    ),
    pytest.param(
        Case(
            "PATCH", "/v1/events/{event}", 422, "timezone", "organiser", {"timezone": "localtime"}
        ),
        id="patch-event-timezone",
    ),
    pytest.param(
        Case("POST", "/v1/profiles", 422, "currency", json=profile_body(currency="ZZZ")),
        id="profile-currency-ZZZ",
    ),
    pytest.param(
        Case("POST", "/v1/profiles", 422, "languages[0]", json=profile_body(languages=["zz"])),
        id="profile-language-zz",
    ),
    pytest.param(
        Case("POST", "/v1/profiles", 422, "timezone", json=profile_body(timezone="localtime")),
        id="profile-timezone-localtime",
    ),
    pytest.param(
        Case("PATCH", "/v1/me", 422, "timezone", "profile", {"timezone": "posixrules"}),
        id="patch-me-timezone",
    ),
    pytest.param(
        Case("PATCH", "/v1/me", 422, "languages[0]", "profile", {"languages": ["zz"]}),
        id="patch-me-language",
    ),
    pytest.param(
        Case(
            "POST", "/v1/profiles", 422, "max_cost_cents/currency", json=profile_body(currency=None)
        ),
        id="cost-without-currency",
    ),
    pytest.param(
        Case("POST", "/v1/profiles", 422, "interests", json=profile_body(interests={"x": 2})),
        id="interest-weight",
    ),
    pytest.param(
        Case("POST", "/v1/profiles", 422, "interests", json=profile_body(interests={"!?": 1})),
        id="interest-name",
    ),
    pytest.param(
        Case(
            "POST",
            "/v1/profiles",
            422,
            "availability[0].to",
            json=profile_body(availability=[{"days": ["mon"], "from": "10:00", "to": "10:00"}]),
        ),
        id="availability-empty-window",
    ),
    pytest.param(
        Case(
            "POST",
            "/v1/profiles",
            422,
            "availability[0].from",
            json=profile_body(availability=[{"days": ["mon"], "from": "10:00\n", "to": "11:00"}]),
        ),
        id="availability-time-with-line-feed",
    ),
    pytest.param(
        Case(
            "PUT",
            "/v1/admin/weights",
            422,
            "distance",
            "admin",
            {**WEIGHTS, "distance": -1, "note": "n"},
        ),
        id="weight-below-zero",
    ),
    pytest.param(
        Case(
            "PUT",
            "/v1/admin/weights",
            422,
            "distance/interest/comfort",
            "admin",
            {**WEIGHTS, "distance": 0, "interest": 0, "comfort": 0, "note": "n"},
        ),
        id="weights-all-zero",
    ),
    pytest.param(
        Case("PUT", "/v1/admin/weights", 422, "note", "admin", {**WEIGHTS, "note": "   "}),
        id="weights-blank-note",
    ),
    pytest.param(Case("GET", "/v1/events?from=yesterday", 422, "from"), id="from-not-a-time"),
    pytest.param(
        Case("GET", "/v1/events?from=2030-02-30T10:00:00Z", 422, "from"), id="from-no-such-day"
    ),
    pytest.param(Case("GET", "/v1/events?to=2030-01-01T10:00", 422, "to"), id="to-without-offset"),
    pytest.param(Case("GET", "/v1/events?tag=%00", 422, "tag"), id="tag-nul"),
    pytest.param(Case("GET", "/v1/events?lat=91", 422, "lat"), id="lat-out-of-range"),
    pytest.param(Case("GET", "/v1/events?cursor=", 422, "cursor"), id="events-empty-cursor"),
    pytest.param(
        Case("GET", "/v1/me/matches?cursor=", 422, "cursor", "profile"), id="matches-empty-cursor"
    ),
    pytest.param(
        Case("GET", f"/v1/events?cursor={NOT_A_CURSOR}", 422, "cursor"), id="events-bad-cursor"
    ),
    pytest.param(
        Case("GET", f"/v1/me/matches?cursor={NOT_A_CURSOR}", 422, "cursor", "profile"),
        id="matches-bad-cursor",
    ),
    pytest.param(
        Case("GET", f"/v1/me/matches?cursor={INFINITE_SCORE}", 422, "cursor", "profile"),
        id="matches-cursor-infinite-score",
    ),
    pytest.param(
        Case("GET", f"/v1/events?cursor={PAST_BIGINT}", 422, "cursor"),
        id="events-cursor-id-past-bigint",
    ),
    pytest.param(
        Case("POST", "/v1/events", 422, "title", "organiser", json={**event_body(), "title": 5}),
        id="title-a-number",
    ),
    pytest.param(
        Case(
            "POST",
            "/v1/events",
            422,
            "venue.colour",
            "organiser",
            json=event_body(venue=_venue(colour="red")),
        ),
        id="unknown-nested-field",
    ),
]


@pytest.mark.parametrize("case", VALUE_CASES)
async def test_bad_values_get_422_naming_the_wire_field_in_words(
    api: AsyncTestClient[Any], pool: asyncpg.Pool, world: World, case: Case
) -> None:
    await assert_refused(api, pool, world, case)


async def test_valid_codes_are_accepted(api: AsyncTestClient[Any], world: World) -> None:
    created = await post_event(
        api, world.organiser, currency="JPY", languages=["yo", "zu"], timezone="Asia/Tokyo"
    )
    assert (created["currency"], created["languages"]) == ("JPY", ["yo", "zu"])


# --- secrets are never kept by a cache -----------------------------------------------------


async def test_answers_with_secrets_say_no_store(api: AsyncTestClient[Any], world: World) -> None:
    me = bearer(world.profile)
    admin = bearer(world.admin)
    answers = [
        await api.post("/v1/profiles", json=profile_body()),
        await api.post("/v1/profiles", json=profile_body(), headers={"Idempotency-Key": "ns"}),
        await api.post("/v1/profiles", json=profile_body(), headers={"Idempotency-Key": "ns"}),
        await api.get("/v1/me", headers=me),
        await api.patch("/v1/me", json={"radius_km": 6}, headers=me),
        await api.get("/v1/me/export", headers=me),
        await api.post("/v1/me/feed/rotate", headers=me),
        await api.post(
            "/v1/admin/organisers",
            json={"name": "Host", "contact_email": "h@example.org"},
            headers=admin,
        ),
    ]
    for answer in answers:
        assert answer.status_code in (200, 201), answer.text
        assert answer.headers.get("cache-control") == "no-store", answer.request.url
    assert answers[2].headers["idempotent-replayed"] == "true"
