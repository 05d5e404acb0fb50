"""The body-size limit and the body-read timeout, applied before anything reads a body.

It runs outside every other middleware that may read the body (idempotency hashes it):
a declared `Content-Length` over the limit is refused before a byte is read, and a body
that streams past it (chunked, or longer than declared) is refused as soon as it does.
A body that does not arrive in time gets 408. Both answers close the connection.
"""

from __future__ import annotations

import asyncio

from litestar.datastructures import Headers
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from shared.http.problems import LowkeyError

MAX_BODY_BYTES = 64 * 1024  # SPEC: 413 over 64 KiB
# From the first read to the body's last byte; a 64 KiB body takes far less on any link.
BODY_READ_TIMEOUT_S = 10.0

_CLOSE = {"Connection": "close"}


class PayloadTooLarge(LowkeyError):
    status_code, title = 413, "Payload too large"

    def __init__(self) -> None:
        super().__init__(f"the request body is over {MAX_BODY_BYTES // 1024} KiB", headers=_CLOSE)


class RequestTimeout(LowkeyError):
    status_code, title = 408, "Request timeout"

    def __init__(self) -> None:
        super().__init__(
            f"the request body did not arrive within {BODY_READ_TIMEOUT_S:g} s", headers=_CLOSE
        )


def declared_length(scope: Scope) -> int | None:
    raw = Headers.from_scope(scope).get("content-length")
    if raw is None or not raw.strip().isdigit():
        return None  # absent, or a value the server itself refuses
    return int(raw)


def body_limit_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        received = 0
        complete = declared == 0
        deadline: float | None = None

        async def limited_receive() -> ReceiveMessage:
            nonlocal received, complete, deadline
            if complete:  # later reads wait for a disconnect: no limit on those
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + BODY_READ_TIMEOUT_S
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise PayloadTooLarge()
                complete = not message.get("more_body", False)
            return message

        await app(scope, limited_receive, send)

    return middleware
