"""Structured logs: one JSON object per line off a terminal, request fields included,
and no token or key in any line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from shared.logs import configure_logging


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("info")
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    yield stream
    root.handlers[:], root.level = saved


async def test_request_log_is_one_json_line_with_fields_and_no_token(
    json_log: io.StringIO, feed: AsyncTestClient[Any], api: AsyncTestClient[Any]
) -> None:
    token = "SeCrEtToKeN0123456789abcdefghijkl"
    await feed.get(f"/feeds/{token}.ics")
    await api.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    requests = [line for line in lines if line.get("event") == "request"]
    assert {r["path"] for r in requests} >= {"/feeds/[redacted].ics", "/v1/me"}
    feed_line = next(r for r in requests if r["path"].startswith("/feeds/"))
    assert feed_line["status"] == 404 and feed_line["method"] == "GET"
    assert isinstance(feed_line["duration_ms"], float)
    assert token not in json_log.getvalue()
