"""Idempotency-Key on every POST: the first answer is kept (sealed) and replayed to retries.

Per caller (the key's identity, or the client address when anonymous) and key, for 24 h.
The stored answer is sealed under a key derived from the raw Idempotency-Key and the
secret key, so a database copy alone never yields a token the answer carried.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from services.api.auth import admin_only, organiser_only, profile_only, resolve_caller
from services.api.client_address import client_address
from shared.crypto import SealError, seal, token_hash, unseal
from shared.db.idempotency import claim_key, complete_key, release_key
from shared.http.problems import Conflict, Invalid
from shared.settings import Settings

log = logging.getLogger("lowkey.idempotency")

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
STATE_KEY = "lowkey_idempotency"
KEPT_HEADERS = ("content-type", "location", "cache-control")
# Statuses a retry should run afresh for: our fault, a conflict or a rate limit.
RELEASED = frozenset({409, 429})


@dataclass
class Attempt:
    """What a handler may tell the middleware about the request it serves."""

    profile_id: int | None = None


class StoredResponse(msgspec.Struct, array_like=True):
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class _Captured:
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    complete: bool = False


def note_profile(request: Request[Any, Any, Any], profile_id: int) -> None:
    """Tie the idempotency record to a profile so erasing the profile erases it."""
    attempt = request.scope.get("state", {}).get(STATE_KEY)
    if isinstance(attempt, Attempt):
        attempt.profile_id = profile_id


def valid_key(raw: str) -> bool:
    return 1 <= len(raw) <= MAX_KEY_LENGTH and all(0x20 < ord(c) < 0x7F for c in raw)


def request_hash(scope: Scope, body: bytes) -> bytes:
    digest = hashlib.sha256()
    method = str(scope.get("method", ""))
    for part in (method.encode(), scope["raw_path"], scope.get("query_string", b"")):
        digest.update(part + b"\x00")
    digest.update(body)
    return digest.digest()


async def _read_body(receive: Receive) -> tuple[bytes, list[ReceiveMessage]]:
    """The whole body, and the messages to hand the app again (the body limit middleware,
    outside this one, stops a body over 64 KiB while it is read)."""
    chunks: list[bytes] = []
    messages: list[ReceiveMessage] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replaying(messages: list[ReceiveMessage], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> ReceiveMessage:
        return pending.pop(0) if pending else await receive()

    return replay


# The guards that say who may call a route. Run here too, so a caller the route would refuse
# (no key, an unknown key, the wrong kind) gets its 401/403 before a record is kept.
CALLER_GUARDS = (admin_only, organiser_only, profile_only)


async def _caller_identity(
    scope: Scope, settings: Settings, pool: asyncpg.Pool
) -> tuple[str, int | None]:
    """(identity, profile id when the caller is a profile); raises 401/403 for a caller
    the route refuses. An unknown Bearer key is refused, never treated as anonymous."""
    connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
    caller = await resolve_caller(connection, settings, pool)
    handler = scope["route_handler"]
    for guard in handler.resolve_guards():
        if guard in CALLER_GUARDS and (pending := guard(connection, handler)) is not None:
            await pending
    if caller.kind == "anonymous":
        return f"address:{client_address(scope, settings.trusted_proxies)}", None
    return caller.identity, caller.id if caller.kind == "profile" else None


async def _send_stored(send: Send, stored: StoredResponse) -> None:
    headers = [(k.encode(), v.encode()) for k, v in stored.headers]
    headers += [
        (b"content-length", str(len(stored.body)).encode()),
        (REPLAYED.lower().encode(), b"true"),
    ]
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body, "more_body": False})


def idempotency_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await app(scope, receive, send)
            return
        raw_key = Headers.from_scope(scope).get(HEADER)
        if raw_key is None:
            await app(scope, receive, send)
            return
        if not valid_key(raw_key):
            raise Invalid.field(
                "Idempotency-Key", f"must be 1-{MAX_KEY_LENGTH} printable ASCII characters"
            )
        state = scope["app"].state
        settings: Settings = state.settings
        pool: asyncpg.Pool = state.pool
        assert settings.secret_key is not None
        identity, caller_profile = await _caller_identity(scope, settings, pool)
        body, messages = await _read_body(receive)
        caller_hash = token_hash(settings.secret_key, identity, purpose="idem-caller")
        key_hash = token_hash(settings.secret_key, raw_key, purpose="idem-key")
        async with pool.acquire() as conn:
            existing = await claim_key(
                conn, caller_hash, key_hash, request_hash(scope, body), caller_profile
            )
        if existing is not None:
            await _answer_retry(existing, request_hash(scope, body), raw_key, settings, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = attempt = Attempt(caller_profile)
        captured = _Captured()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured.status = message["status"]
                captured.headers = [
                    (k.decode().lower(), v.decode())
                    for k, v in message.get("headers", [])
                    if k.decode().lower() in KEPT_HEADERS
                ]
            elif message["type"] == "http.response.body":
                captured.body.append(message.get("body", b""))
                captured.complete = not message.get("more_body", False)
            await send(message)

        try:
            await app(scope, _replaying(messages, receive), capture)
        finally:
            await _finish(pool, settings, caller_hash, key_hash, raw_key, captured, attempt)

    return middleware


async def _answer_retry(
    existing: Any, this_hash: bytes, raw_key: str, settings: Settings, send: Send
) -> None:
    if existing.request_hash != this_hash:
        raise Invalid.field(
            "Idempotency-Key", "was already used with another request; use a new key"
        )
    if existing.status_code is None or existing.response is None:
        raise Conflict("the first request with this Idempotency-Key is still running")
    assert settings.secret_key is not None
    try:
        plain = unseal(existing.response, settings.secret_key, raw_key, purpose="idempotency")
    except SealError:
        # Cannot happen with the same key and secret; treat as a lost record.
        raise Conflict("the stored answer for this Idempotency-Key cannot be read") from None
    await _send_stored(send, msgspec.msgpack.decode(plain, type=StoredResponse))


async def _finish(
    pool: asyncpg.Pool,
    settings: Settings,
    caller_hash: bytes,
    key_hash: bytes,
    raw_key: str,
    captured: _Captured,
    attempt: Attempt,
) -> None:
    """Keep a finished answer; release the key when a retry deserves a fresh run."""
    assert settings.secret_key is not None
    status = captured.status
    try:
        async with pool.acquire() as conn:
            if status is None or not captured.complete or status >= 500 or status in RELEASED:
                await release_key(conn, caller_hash, key_hash)
                return
            stored = StoredResponse(status, captured.headers, b"".join(captured.body))
            sealed = seal(
                msgspec.msgpack.encode(stored),
                settings.secret_key,
                raw_key,
                purpose="idempotency",
            )
            await complete_key(
                conn,
                caller_hash,
                key_hash,
                status_code=status,
                sealed_response=sealed,
                profile_id=attempt.profile_id,
            )
    except (OSError, asyncpg.PostgresError) as exc:
        # The answer already went out; a retry within ABANDONED_AFTER_S gets 409.
        log.warning("idempotency record not finished", extra={"error": type(exc).__name__})
