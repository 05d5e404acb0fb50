"""`GET`/`HEAD /feeds/{token}.ics`: a personal feed with its validators, or one 404 for all misses.

Conditional requests per RFC 9110: If-None-Match first (weak comparison), else
If-Modified-Since; either answers 304 with the validators and no body.
"""

from __future__ import annotations

import re
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from litestar import Controller, Request, route
from litestar.di import NamedDependency
from litestar.enums import HttpMethod
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.response.base import ASGIResponse

from services.feed.render import FeedSource, ServedFeed
from shared.http.problems import NotFound

FEED_MEDIA_TYPE = "text/calendar; charset=utf-8"
# Private: a feed is one person's. 15 minutes is the quickest any client polls, so a
# shared-device browser cache never holds a feed longer than a client would anyway.
CACHE_CONTROL = "private, max-age=900"
# A feed URL is a capability: never leak it onwards, never index it.
PRIVACY_HEADERS = {"referrer-policy": "no-referrer", "x-robots-tag": "noindex"}
MISS_HEADERS = {**PRIVACY_HEADERS, "cache-control": "no-store"}
# The token alphabet (URL-safe base64), at least 128 bits' worth, then `.ics`.
FEED_FILE = re.compile(r"([A-Za-z0-9_-]{22,128})\.ics")
NO_SUCH_FEED = "no feed at this address"


class FeedController(Controller):
    path = "/feeds"
    tags = ["feeds"]

    @route(
        "/{filename:str}",
        http_method=[HttpMethod.GET, HttpMethod.HEAD],
        summary="A personal calendar feed (RFC 5545)",
        media_type=FEED_MEDIA_TYPE,
        responses={
            304: ResponseSpec(None, description="Not modified (If-None-Match/If-Modified-Since)"),
            404: ResponseSpec(None, description=NO_SUCH_FEED + " (unknown or rotated token)"),
            503: ResponseSpec(
                None, description="The feed cannot be made just now (Retry-After says when)"
            ),
        },
    )
    async def feed(
        self,
        request: Request[Any, Any, Any],
        filename: FromPath[str],
        feeds: NamedDependency[FeedSource],
    ) -> ASGIResponse:
        matched = FEED_FILE.fullmatch(filename)
        if matched is None:
            raise NotFound(NO_SUCH_FEED, headers=MISS_HEADERS)
        if_none_match = request.headers.get("if-none-match")
        served = await feeds.load(matched[1], known_etag=_single_etag(if_none_match))
        if served is None:
            raise NotFound(NO_SUCH_FEED, headers=MISS_HEADERS)
        if _not_modified(served, if_none_match, request.headers.get("if-modified-since")):
            return ASGIResponse(status_code=304, headers=_validators(served))
        # The stored bytes are left in the database only when If-None-Match names them.
        assert served.body is not None
        headers = {
            **_validators(served),
            "content-type": FEED_MEDIA_TYPE,
            "content-length": str(len(served.body)),
        }
        if request.method == HttpMethod.HEAD:
            return ASGIResponse(headers=headers, is_head_response=True)
        return ASGIResponse(body=served.body, headers=headers)


def _validators(served: ServedFeed) -> dict[str, str]:
    return {
        **PRIVACY_HEADERS,
        "cache-control": CACHE_CONTROL,
        "etag": served.etag,
        "last-modified": format_datetime(served.last_modified, usegmt=True),
    }


def _etags(header: str) -> list[str]:
    """The entity tags of an If-None-Match list, weak ones as their strong form."""
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def _single_etag(header: str | None) -> str | None:
    tags = _etags(header) if header else []
    return tags[0] if len(tags) == 1 and tags[0] != "*" else None


def _not_modified(
    served: ServedFeed, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    if if_none_match is not None:
        tags = _etags(if_none_match)
        return "*" in tags or served.etag in tags
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an unreadable date is ignored (RFC 9110 13.1.3)
    if since.tzinfo is None:
        return False
    return served.last_modified <= since
