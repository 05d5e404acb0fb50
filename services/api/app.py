"""Wires the API process: every controller, guard dependency and plugin in one place."""

from __future__ import annotations

import os

from litestar import Litestar
from litestar.di import Provide

from services.api.auth import provide_caller
from services.api.buddy import BuddyController
from services.api.checkins import CheckinsController
from services.api.console import console_setup
from services.api.events import EventsController
from services.api.idempotency import idempotency_middleware
from services.api.matches import MatchesController
from services.api.me import MeController
from services.api.organisers import AdminOrganisersController
from services.api.pages import PAGES
from services.api.profiles import ProfilesController
from services.api.stats import AdminStatsController
from services.api.weights import AdminWeightsController
from shared.http.service import build_app
from shared.settings import Settings, load_settings

# Each resource's controller(s); keep one import and one list entry per module.
ROUTES: list[object] = [
    ProfilesController,
    MeController,
    BuddyController,
    CheckinsController,
    MatchesController,
    EventsController,
    AdminOrganisersController,
    AdminWeightsController,
    AdminStatsController,
    PAGES,
]


def create_app(settings: Settings) -> Litestar:
    return build_app(
        settings,
        name="api",
        route_handlers=ROUTES,  # type: ignore[arg-type]
        dependencies={"caller": Provide(provide_caller)},
        middleware=[idempotency_middleware],
        openapi_title="lowkey API",
        on_app_init=[console_setup(settings)],
    )


def app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` worker processes (URLs must be set)."""
    return create_app(load_settings(os.environ))
