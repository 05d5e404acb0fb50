"""The OpenAPI docs pages of a lowkey service, with their scripts served by the service
itself (Litestar's render plugins default to public CDNs: blank pages offline).

`/schema` and `/schema/redoc` are Redoc, `/schema/swagger` is Swagger UI, and
`/schema/openapi.json` the schema. The files live in `docs_assets/` with their licences.
"""

from __future__ import annotations

from pathlib import Path

from litestar.datastructures import CacheControlHeader
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send

SCHEMA_PATH = "/schema"
ASSETS_PATH = f"{SCHEMA_PATH}/assets"
ASSETS_DIR = Path(__file__).parent / "docs_assets"
# The assets change only with a lowkey release that vendors new ones: a day is safe.
ASSETS_MAX_AGE_S = 86_400
# The pages may use nothing from elsewhere: Redoc's footer would show its logo from its CDN
# (it hides the image when it fails); the policy keeps the browser from even asking. The
# inline parts are Litestar's page templates and the two UIs' own styles and workers.
DOCS_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ]
).encode()


def openapi_config(title: str) -> OpenAPIConfig:
    swagger = f"{ASSETS_PATH}/swagger-ui"
    return OpenAPIConfig(
        title=title,
        version="1.0.0",
        path=SCHEMA_PATH,
        render_plugins=[
            RedocRenderPlugin(
                path=["/", "/redoc"],
                js_url=f"{ASSETS_PATH}/redoc/redoc.standalone.js",
                google_fonts=False,
                favicon="",
            ),
            SwaggerRenderPlugin(
                path="/swagger",
                js_url=f"{swagger}/swagger-ui-bundle.js",
                css_url=f"{swagger}/swagger-ui.css",
                standalone_preset_js_url=f"{swagger}/swagger-ui-standalone-preset.js",
                favicon="",
            ),
        ],
    )


def docs_assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS_DIR],
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=ASSETS_MAX_AGE_S, public=True),
        name="docs-assets",
    )


def docs_policy_middleware(app: ASGIApp) -> ASGIApp:
    """Adds `DOCS_POLICY` as the Content-Security-Policy of the docs pages."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == SCHEMA_PATH or path.startswith(f"{SCHEMA_PATH}/")):
            await app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"content-security-policy", DOCS_POLICY)]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_policy)

    return middleware
