"""Wires the feed process: `GET/HEAD /feeds/{token}.ics` plus health and metrics."""

from __future__ import annotations

import os

from litestar import Litestar

from services.feed.routes import FeedController
from shared.http.service import build_app
from shared.settings import Settings, load_settings

ROUTES: list[object] = [FeedController]


def create_app(settings: Settings) -> Litestar:
    return build_app(
        settings,
        name="feed",
        route_handlers=ROUTES,  # type: ignore[arg-type]
        openapi_title="lowkey feeds",
    )


def app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` worker processes (URLs must be set)."""
    return create_app(load_settings(os.environ))
