"""Wires the feed process: `GET/HEAD /feeds/{token}.ics` plus health and metrics."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide

from services.feed.render import FeedSource
from services.feed.routes import FeedController
from shared.db.feeds import create_feed_pool
from shared.http.service import build_app
from shared.settings import Settings, load_settings

ROUTES: list[object] = [FeedController]
FEED_POOL_SIZE = 10
# The shared pool only answers /readyz here; feed requests use the feed pool.
SHARED_POOL_SIZE = 2


def create_app(settings: Settings) -> Litestar:
    source = FeedSource(settings)

    @asynccontextmanager
    async def feed_pool(_: Litestar) -> AsyncIterator[None]:
        assert settings.database_url is not None
        source.open(await create_feed_pool(settings.database_url, max_size=FEED_POOL_SIZE))
        try:
            yield
        finally:
            await source.close()

    def with_feed_pool(config: AppConfig) -> AppConfig:
        config.lifespan = [*config.lifespan, feed_pool]
        return config

    def provide_source() -> FeedSource:
        return source

    return build_app(
        settings,
        name="feed",
        route_handlers=ROUTES,  # type: ignore[arg-type]
        dependencies={"feeds": Provide(provide_source, sync_to_thread=False)},
        pool_size=SHARED_POOL_SIZE,
        openapi_title="lowkey feeds",
        on_app_init=[with_feed_pool],
    )


def app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` worker processes (URLs must be set)."""
    return create_app(load_settings(os.environ))
