"""Browser-test helpers: Debian's chromium driven by Playwright, a real app served by
uvicorn on a free loopback port in a background thread, and axe-core's WCAG checks.

Without chromium, Playwright or axe-core (`make node-deps`) the browser tests skip with
the reason; under CI=true that is a failure, since CI must prove the pages work in a browser.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from litestar import Litestar

from shared.http.server import server_config

CHROMIUM = os.environ.get("LOWKEY_CHROMIUM", "/usr/bin/chromium")
# Headless, and nothing that phones home: this machine's network is closed.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"
AXE_CORE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.2 A and AA, as the SPEC asks ("Pages for people").
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Phone width the SPEC names: no sideways scrolling at 390 px.
PHONE = {"width": 390, "height": 844}


def require_browser() -> None:
    """Skip (or, under CI=true, fail) when chromium or Playwright is missing."""
    reason = None
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"chromium not found at {CHROMIUM} (apt-get install chromium)"
    elif not AXE_CORE.exists():
        reason = f"axe-core not found at {AXE_CORE} (make node-deps)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            reason = "playwright for Python is not installed (pip install playwright)"
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(app: Litestar, port: int) -> Iterator[str]:
    """Run `app` under uvicorn on 127.0.0.1:port until the block ends; yields its base URL."""
    # As lowkey runs its servers; uvicorn's own log set-up would keep its records from the
    # root logger (and the log tests that follow) for the rest of the session.
    config = server_config(app, "127.0.0.1", port)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


async def with_axe(context: Any) -> None:
    """Load axe-core into every page the Playwright context opens. An init script runs
    before the page's own and is not subject to its Content-Security-Policy."""
    await context.add_init_script(path=str(AXE_CORE))


async def axe_violations(page: Any) -> list[str]:
    """axe-core's WCAG 2.2 A/AA violations on the page as it is now: 'rule-id: node, …'."""
    result: dict[str, Any] = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [
        f"{v['id']}: " + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in result["violations"]
    ]


async def sideways_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0 or less: none)."""
    overflow: int = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return overflow
