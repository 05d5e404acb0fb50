"""The admin console at /admin: server-rendered pages (Jinja) with htmx, vendored static
files, server-side sessions and CSRF middleware. `console_setup(settings)` wires it into the
API app (an `on_app_init` hook), leaving the JSON API's Bearer-key auth untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from litestar import Router
from litestar.config.app import AppConfig
from litestar.plugins.htmx import HTMXConfig, HTMXPlugin, HTMXRequest
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from services.api.console.pages import OverviewController, WeightsPageController
from services.api.console.session import (
    SessionController,
    SignInRequired,
    csrf_middleware,
    to_sign_in,
)
from shared.settings import Settings

HERE = Path(__file__).parent
# Only our own scripts, styles and forms; never framed (no clickjacking of a button).
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


# Why a full re-score ran (rescore_runs.reason), said as the end of "…, because …".
RESCORE_REASONS = {
    "weights": "new weights were saved",  # before weights were applied at read
    "activate": "an earlier version was re-activated",  # likewise
    "nightly": "of the nightly check",
    "release": "a new release of lowkey stores more of each match",
    "drill": "of a fault drill",
    "rescore": "a re-score was asked for",
}


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _local_day(value: datetime | None) -> str:
    """An event's date in its own zone, as people read it: 'Tue 15 Dec 2026, 19:00 GMT'."""
    if value is None:
        return "no date to come"
    return f"{value:%a} {value.day} {value:%b %Y, %H:%M} {value.tzname() or ''}".rstrip()


def _reason(value: str) -> str:
    return RESCORE_REASONS.get(value, value)


def _configure_jinja(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters["when"] = _when
    engine.engine.filters["local_day"] = _local_day
    engine.engine.filters["reason"] = _reason


def console_router(settings: Settings) -> Router:
    return Router(
        path="/",
        route_handlers=[SessionController, OverviewController, WeightsPageController],
        middleware=[csrf_middleware(settings)],
        request_class=HTMXRequest,
        exception_handlers={SignInRequired: to_sign_in},
        include_in_schema=False,
        response_headers=SECURITY_HEADERS,
    )


def console_setup(settings: Settings) -> Callable[[AppConfig], AppConfig]:
    def on_app_init(app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(console_router(settings))
        app_config.route_handlers.append(
            create_static_files_router(
                path="/admin/static",
                directories=[HERE / "static"],
                name="console-static",
                include_in_schema=False,
            )
        )
        app_config.template_config = TemplateConfig(
            directory=HERE / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=_configure_jinja,
        )
        app_config.plugins.append(HTMXPlugin(HTMXConfig(set_request_class_globally=False)))
        return app_config

    return on_app_init
