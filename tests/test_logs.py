"""Structured logs: one JSON object per line off a terminal, one short line on one, each
naming its part (api, feed, worker); idle housekeeping only at debug level; and no
token, key or profile data in any line, whatever the level."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from shared.logs import configure_logging, log_part
from tests.conftest import ADMIN_KEY
from tests.factories import bearer, create_organiser, event_body

Capture = Callable[..., io.StringIO]


@pytest.fixture
def capture() -> Iterator[Capture]:
    """`capture(level, terminal=…, part=…)`: configure logging into a string."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)

    def start(level: str = "info", *, terminal: bool = False, part: str = "lowkey") -> io.StringIO:
        stream = io.StringIO()
        configure_logging(level, terminal=terminal, part=part, stream=stream)
        return stream

    yield start
    root.handlers[:], root.level = saved


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_request_log_is_one_json_line_with_fields_and_no_token(
    capture: Capture, feed: AsyncTestClient[Any], api: AsyncTestClient[Any]
) -> None:
    stream = capture("info", part="api")
    token = "SeCrEtToKeN0123456789abcdefghijkl"
    await feed.get(f"/feeds/{token}.ics")
    await api.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    lines = json_lines(stream)
    requests = [line for line in lines if line.get("event") == "request"]
    assert {r["path"] for r in requests} >= {"/feeds/[redacted].ics", "/v1/me"}
    feed_line = next(r for r in requests if r["path"].startswith("/feeds/"))
    assert feed_line["status"] == 404 and feed_line["method"] == "GET"
    assert isinstance(feed_line["duration_ms"], float)
    assert feed_line["part"] == "api" and "service" not in feed_line
    assert token not in stream.getvalue()


def test_a_terminal_line_is_short_and_names_its_part(capture: Capture) -> None:
    stream = capture("info", terminal=True, part="worker")
    log = logging.getLogger("lowkey.worker.jobs")
    log.info("re-score chunk written", extra={"run": 3, "chunk": 1, "read_s": 0.25})
    log.warning("job failed; it will be tried again", extra={"error": "RaiseError"})
    first, second = stream.getvalue().splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d worker re-score chunk written  run=3 chunk=1 read_s=0\.25", first
    ), first
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d worker WARNING: job failed; it will be tried again  error=RaiseError",
        second,
    ), second


def test_uvicorn_start_up_chatter_is_debug_and_carries_no_colour_codes(capture: Capture) -> None:
    stream = capture("info", terminal=True)
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.info(
        "Started server process [%d]",
        42,
        extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
    )
    uvicorn_log.info("Application startup complete.")
    uvicorn_log.error("Exception in ASGI application")
    assert stream.getvalue().splitlines() == [
        line for line in stream.getvalue().splitlines() if "Exception in ASGI" in line
    ]
    assert len(stream.getvalue().splitlines()) == 1

    verbose = capture("debug", terminal=True)
    uvicorn_log.info(
        "Started server process [%d]",
        42,
        extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
    )
    assert "Started server process [42]" in verbose.getvalue()
    assert "\x1b" not in verbose.getvalue() and "color_message" not in verbose.getvalue()


def test_idle_cron_runs_and_arq_summaries_are_debug_but_finished_jobs_are_shown(
    capture: Capture,
) -> None:
    stream = capture("info", terminal=True, part="worker")
    arq = logging.getLogger("arq.worker")
    # arq's own format strings, as it logs them.
    arq.info("%6.2fs → %s(%s)%s", 1.01, "cron:sweep_outbox", "", "")
    arq.info("%6.2fs ← %s ● %s", 0.0, "cron:sweep_outbox", "0")
    arq.info("%6.2fs → %s(%s)%s", 0.01, "lowkey:event:12:score_event", "12, 5", "")
    arq.info("%6.2fs ← %s ● %s", 0.05, "lowkey:event:12:score_event", "3")
    arq.info("Starting worker for %d functions: %s", 2, "score_event, cron:sweep_outbox")
    arq.info(
        "shutdown on %s ◆ %d jobs complete ◆ %d failed ◆ %d retries ◆ %d ongoing to cancel",
        "SIGUSR1",
        3,
        0,
        0,
        0,
    )
    arq.error("%6.2fs ! %s failed, %s: %s", 0.1, "cron:drop_over", "OSError", "")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert "score_event ● 3" in lines[0]
    assert "cron:drop_over failed" in lines[1] and "ERROR" in lines[1]
    assert "SIGUSR1" not in stream.getvalue()


async def test_each_task_of_lowkey_up_names_its_own_part(capture: Capture) -> None:
    stream = capture("info")
    log = logging.getLogger("lowkey.request")

    async def serve(part: str) -> None:
        log_part(part)
        await asyncio.sleep(0)
        log.info("request", extra={"path": "/healthz"})

    await asyncio.gather(asyncio.create_task(serve("api")), asyncio.create_task(serve("feed")))
    log.info("stopping")
    parts = [line["part"] for line in json_lines(stream)]
    assert sorted(parts[:2]) == ["api", "feed"] and parts[2] == "lowkey"


def test_values_under_secret_names_never_reach_a_line(capture: Capture) -> None:
    for terminal in (False, True):
        stream = capture("debug", terminal=terminal)
        logging.getLogger("lowkey").info(
            "careless",
            extra={
                "token": "tok-123456",
                "api_key": "key-123456",
                "feed_url": "http://x/feeds/feed-123456.ics",
                "authorization": "Bearer tok-123456",
                "outbox_id": 7,
            },
        )
        text = stream.getvalue()
        assert "123456" not in text and "outbox_id" in text


@pytest.mark.parametrize("terminal", [False, True])
async def test_no_secret_or_profile_data_in_any_line_at_any_level(
    capture: Capture,
    terminal: bool,
    api: AsyncTestClient[Any],
    feed: AsyncTestClient[Any],
    admin_headers: dict[str, str],
    drain_queue: Callable[[], Awaitable[int]],
) -> None:
    """A user signs up, an organiser posts, the worker scores, the feed is read, the
    user is erased: every line at debug level, and none holds what it must not."""
    stream = capture("debug", terminal=terminal)
    _, org_key = await create_organiser(api, admin_headers)
    created = await api.post(
        "/v1/profiles",
        json={
            "home": {"lat": 52.52437, "lon": 13.41053},
            "radius_km": 5,
            "interests": {"board-games": 0.7, "quietly-secret-hobby": 0.9},
            "comfort_level": 2,
            "display_name": "Marguerite Private",
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    posted = await api.post("/v1/events", json=event_body(), headers=bearer(org_key))
    assert posted.status_code == 201, posted.text
    await drain_queue()
    assert (await api.get("/v1/me/matches", headers=bearer(user["token"]))).status_code == 200
    feed_path = "/" + user["feed_url"].split("/", 3)[3]
    assert (await feed.get(feed_path)).status_code == 200
    assert (await api.delete("/v1/me", headers=bearer(user["token"]))).status_code == 204
    await drain_queue()

    text = stream.getvalue()
    assert "request" in text and "score" in text  # the lines were written
    feed_token = feed_path.rsplit("/", 1)[1].removesuffix(".ics")
    for secret in (user["token"], feed_token, org_key, ADMIN_KEY):
        assert secret not in text
    for private in ("52.524", "13.410", "quietly-secret-hobby", "Marguerite", "comfort_level"):
        assert private not in text, private
