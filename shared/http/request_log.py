"""The request log: one structured line per request, with secrets redacted from the path.

Uvicorn's own access log is switched off (it would print feed tokens).
"""

from __future__ import annotations

import logging
import re
import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("lowkey.request")

# Path segments that are secrets: feed tokens live in the URL itself.
SECRET_PATHS = re.compile(r"^/feeds/[^/]+$")


def redact_path(path: str) -> str:
    if SECRET_PATHS.match(path):
        return "/feeds/[redacted].ics"
    return path


def request_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": redact_path(scope.get("path", "")),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    return middleware
