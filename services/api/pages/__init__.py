"""The pages for people on the API service (SPEC "Pages for people"): server-rendered,
working without JavaScript, on the same models, SQL and scoring the JSON API uses.

`PAGES` is the one router `services/api/app.py` lists.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.static_files import create_static_files_router

from services.api.pages.public import PublicPages

HERE = Path(__file__).parent

PAGES = Router(
    path="/",
    route_handlers=[
        PublicPages,
        create_static_files_router(
            path="/assets",
            directories=[HERE / "static"],
            name="pages-static",
            include_in_schema=False,
        ),
    ],
    include_in_schema=False,
)
