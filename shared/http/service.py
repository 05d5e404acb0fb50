"""Builds a lowkey HTTP service: lifespan (pool, queue), DI, errors, request log, metrics.

`services/api/app.py` and `services/feed/app.py` each call `build_app` with their routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from arq.connections import ArqRedis
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.plugins import PluginProtocol
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.types import ControllerRouterHandler, Middleware

from shared.db.pool import create_pool
from shared.http.body_limit import MAX_BODY_BYTES, body_limit_middleware
from shared.http.contract import StrictRequest, StrictStructSchemaPlugin, allow_middleware
from shared.http.docs import docs_assets_router, docs_policy_middleware, openapi_config
from shared.http.health import healthz, readyz
from shared.http.problems import (
    VALIDATION_HANDLERS,
    internal_error_handler,
    problem_details_plugin,
)
from shared.http.request_log import request_log_middleware
from shared.queue import connect_queue
from shared.settings import Settings


def _provide_settings(settings: Settings) -> Provide:
    def provide() -> Settings:
        return settings

    return Provide(provide, sync_to_thread=False)


async def _provide_pool(state: State) -> asyncpg.Pool:
    pool: asyncpg.Pool = state.pool
    return pool


async def _provide_queue(state: State) -> ArqRedis:
    queue: ArqRedis = state.queue
    return queue


def build_app(
    settings: Settings,
    *,
    name: str,
    route_handlers: Sequence[ControllerRouterHandler],
    plugins: Sequence[PluginProtocol] = (),
    middleware: Sequence[Middleware] = (),
    dependencies: dict[str, Provide] | None = None,
    pool_size: int = 10,
    openapi_title: str = "lowkey",
    debug: bool = False,
    on_app_init: Sequence[Any] = (),
) -> Litestar:
    """A Litestar app wired the way every lowkey service is."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        assert settings.database_url is not None, "database_url must be resolved before start"
        app.state.settings = settings
        app.state.pool = await create_pool(settings.database_url, max_size=pool_size)
        app.state.queue = connect_queue(settings)
        try:
            yield
        finally:
            await app.state.queue.aclose()
            await app.state.pool.close()

    class Metrics(PrometheusController):
        path = "/metrics"
        include_in_schema = False

    prometheus = PrometheusConfig(
        app_name=f"lowkey_{name}",
        prefix="lowkey",
        group_path=True,  # label by route template: paths hold feed tokens
        exclude=["/metrics"],
    )
    return Litestar(
        route_handlers=[healthz, readyz, Metrics, docs_assets_router(), *route_handlers],
        lifespan=[lifespan],
        plugins=[problem_details_plugin(), StrictStructSchemaPlugin(), *plugins],
        middleware=[
            request_log_middleware,
            prometheus.middleware,
            allow_middleware,
            body_limit_middleware,  # before anything that reads a body
            docs_policy_middleware,
            *middleware,
        ],
        request_class=StrictRequest,
        dependencies={
            "settings": _provide_settings(settings),
            "pool": Provide(_provide_pool),
            "queue": Provide(_provide_queue),
            **(dependencies or {}),
        },
        exception_handlers={Exception: internal_error_handler, **VALIDATION_HANDLERS},
        openapi_config=openapi_config(openapi_title),
        request_max_body_size=MAX_BODY_BYTES,
        debug=debug,
        logging_config=None,  # shared.logs configures logging once per process
        on_app_init=list(on_app_init),
    )


__all__ = ["AppConfig", "build_app"]
