"""The API's docs pages work without internet (issue 14; SPEC "API shape": docs at
`/schema` working offline): every script and stylesheet they load is served by lowkey,
and in Chromium with every other address cut off they render the API's title."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, OUTPUT, free_port, require_browser, serve
from litestar.testing import AsyncTestClient

from shared.settings import Settings

PAGES = ("/schema", "/schema/redoc", "/schema/swagger")
ASSET = re.compile(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"')
SHOTS = OUTPUT / "docs"


@pytest.mark.parametrize("service", ["api", "feed"])
@pytest.mark.parametrize("page", PAGES)
async def test_docs_pages_load_only_their_own_files(
    settings: Settings, service: str, page: str
) -> None:
    module = __import__(f"services.{service}.app", fromlist=["create_app"])
    async with AsyncTestClient(app=module.create_app(settings), base_url="http://x.test") as c:
        html = await c.get(page)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        # The browser may load nothing from elsewhere (Redoc would fetch a logo).
        policy = html.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
        assets = ASSET.findall(html.text)
        assert assets, "the page loads its scripts"
        for url in assets:
            assert url.startswith("/schema/assets/"), f"{page} loads {url}"
            asset = await c.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
            assert len(asset.content) > 100_000, url  # the real bundle, not a stub
        assert "googleapis" not in html.text and "jsdelivr" not in html.text


@pytest.mark.browser
async def test_docs_render_in_chromium_with_the_network_off(settings: Settings) -> None:
    require_browser()
    from playwright.async_api import Route, async_playwright, expect

    from services.api.app import create_app

    SHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    outside: list[str] = []

    async def only_lowkey(route: Route, base: str) -> None:
        if route.request.url.startswith(base) or route.request.url.startswith("data:"):
            await route.continue_()
        else:  # no internet: everything else fails as it would offline
            outside.append(route.request.url)
            await route.abort("internetdisconnected")

    with serve(create_app(settings), port) as base:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 900})

                async def handler(route: Route, *_: Any) -> None:
                    await only_lowkey(route, base)

                await context.route("**/*", handler)
                page = await context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))

                await page.goto(f"{base}/schema/swagger")
                await expect(page.locator(".information-container .title")).to_contain_text(
                    "lowkey API", timeout=15_000
                )
                await expect(page.locator(".opblock-summary-path").first).to_be_visible()
                await page.screenshot(path=str(SHOTS / "swagger.png"))

                for path in ("/schema", "/schema/redoc"):
                    await page.goto(f"{base}{path}")
                    await expect(page.locator("h1").first).to_contain_text(
                        "lowkey API", timeout=15_000
                    )
                await page.screenshot(path=str(SHOTS / "redoc.png"))
            finally:
                await browser.close()
    assert outside == [], f"the docs asked the internet for {outside}"
    assert errors == [], errors
