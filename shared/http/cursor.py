"""List cursors: what a page hands back as `next`, and the one rule for reading one.

A cursor is opaque to clients (URL-safe base64 of the last item's sort key). Absent means
the first page; anything else, the empty string included, must be a cursor this list
made, or it gets 422 naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from litestar.params import QueryParameter

from shared.http.problems import Invalid

SEPARATOR = "|"
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"

Cursor = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        max_length=200,
        pattern=CURSOR_PATTERN,
        description="the `next` of an earlier page of this list; leave it out for the first",
    ),
]


def encode_cursor(*parts: str | int) -> str:
    raw = SEPARATOR.join(str(part) for part in parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def bigint(text: str) -> int:
    """An id as PostgreSQL's bigint holds it."""
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def tag(name: str) -> Callable[[str], str]:
    """A fixed first part naming the list, so one list's cursor is refused by another."""

    def exactly(text: str) -> str:
        if text != name:
            raise ValueError(text)
        return text

    return exactly


def aware_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(text)
    return value


def decode_cursor(cursor: str | None, *kinds: Callable[[str], Any]) -> tuple[Any, ...] | None:
    """The parts `encode_cursor` was given, each read by its `kinds` entry (`bigint`,
    `finite_float`, `aware_datetime`…); None for the first page."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = raw.split(SEPARATOR)
        if not cursor or len(parts) != len(kinds):
            raise ValueError(raw)
        return tuple(kind(part) for kind, part in zip(kinds, parts, strict=True))
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise Invalid.field("cursor", "is not a cursor from this list") from None
