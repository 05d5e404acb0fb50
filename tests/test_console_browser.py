"""The admin console in a real browser (headless Debian chromium through Playwright), plus
the session and CSRF rules checked at the HTTP level."""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

import asyncpg
import msgspec
import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, OUTPUT, free_port, require_browser, serve
from litestar.testing import AsyncTestClient
from test_api_weights import DEFAULTS, seed_city

from services.api.console.session import CSRF_COOKIE, SESSION_COOKIE, cookies_secure
from shared.settings import Settings

SHOTS = OUTPUT / "console"
# Refreshed only on request (LOWKEY_UPDATE_SCREENSHOTS=1): a committed file that every
# test run rewrote would always show as changed.
DOCS_SCREENSHOT = OUTPUT.parent / "docs" / "console.png"
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


def _with_public_url(settings: Settings, url: str) -> Settings:
    return msgspec.structs.replace(settings, public_url=url)


# --- HTTP level: cookies, CSRF, sign-in -------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("http://127.0.0.1:8000", False),
        ("http://localhost:8000", False),
        ("https://admin.example.org", True),
        ("http://api.test", True),
    ],
)
def test_cookies_are_secure_except_on_plain_http_loopback(
    settings: Settings, url: str, secure: bool
) -> None:
    assert cookies_secure(_with_public_url(settings, url)) is secure


async def _signed_in_client(client: AsyncTestClient[Any], settings: Settings) -> tuple[str, Any]:
    page = await client.get("/admin/login")
    match = CSRF_FIELD.search(page.text)
    assert match, "the sign-in form carries a CSRF token"
    token = match.group(1)
    response = await client.post(
        "/admin/login",
        data={"admin_key": settings.admin_key, "_csrf_token": token},
        follow_redirects=False,
    )
    return token, response


async def test_sign_in_sets_a_strict_httponly_secure_session(
    settings: Settings, db_clean: None
) -> None:
    from services.api.app import create_app

    live = _with_public_url(settings, "https://admin.example.org")
    async with AsyncTestClient(app=create_app(live), base_url="https://api.test") as client:
        page = await client.get("/admin/login")
        csrf_cookie = next(c for c in page.headers.get_list("set-cookie") if CSRF_COOKIE in c)
        for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/admin"):
            assert flag in csrf_cookie
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        redirect = await client.get("/admin", follow_redirects=False)
        assert redirect.status_code == 303 and redirect.headers["location"] == "/admin/login"

        _, response = await _signed_in_client(client, live)
        assert response.status_code == 303 and response.headers["location"] == "/admin"
        session_cookie = response.headers["set-cookie"]
        assert session_cookie.startswith(f"{SESSION_COOKIE}=")
        for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/admin"):
            assert flag in session_cookie
        assert settings.admin_key not in session_cookie
        overview = await client.get("/admin")
        assert overview.status_code == 200 and "<h1>Overview</h1>" in overview.text


async def test_wrong_key_and_missing_csrf_are_refused(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    from services.api.app import create_app

    async with AsyncTestClient(app=create_app(settings), base_url="https://api.test") as client:
        page = await client.get("/admin/login")
        token = CSRF_FIELD.search(page.text).group(1)  # type: ignore[union-attr]
        wrong = await client.post(
            "/admin/login", data={"admin_key": "not-the-admin-key", "_csrf_token": token}
        )
        assert wrong.status_code == 401 and "That key was refused." in wrong.text
        assert SESSION_COOKIE not in wrong.headers.get("set-cookie", "")
        no_csrf = await client.post("/admin/login", data={"admin_key": settings.admin_key})
        assert no_csrf.status_code == 403

        token, _ = await _signed_in_client(client, settings)
        form = {**{k: str(v) for k, v in DEFAULTS.items()}, "note": "csrf"}
        forged = await client.post("/admin/weights", data=form, follow_redirects=False)
        assert forged.status_code == 403
        bad_token = await client.post(
            "/admin/weights", data={**form, "_csrf_token": "0" * 128}, follow_redirects=False
        )
        assert bad_token.status_code == 403
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM weight_versions") == 1
        saved = await client.post(
            "/admin/weights", data={**form, "_csrf_token": token}, follow_redirects=False
        )
        assert saved.status_code == 303
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT version FROM active_weights") == 2

        # The JSON API keeps its Bearer keys and needs no CSRF token.
        api_put = await client.put(
            "/v1/admin/weights",
            json={**DEFAULTS, "note": "api"},
            headers={"Authorization": f"Bearer {settings.admin_key}"},
        )
        assert api_put.status_code == 201


async def test_a_new_admin_key_ends_old_sessions(settings: Settings, db_clean: None) -> None:
    from services.api.app import create_app

    async with AsyncTestClient(app=create_app(settings), base_url="https://api.test") as client:
        await _signed_in_client(client, settings)
        assert (await client.get("/admin", follow_redirects=False)).status_code == 200
        cookies = client.cookies
    rotated = msgspec.structs.replace(settings, admin_key="a-brand-new-admin-key-0123456789")
    async with AsyncTestClient(app=create_app(rotated), base_url="https://api.test") as client:
        client.cookies = cookies
        response = await client.get("/admin", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/admin/login"
        htmx = await client.get("/admin/weights/progress", headers={"HX-Request": "true"})
        assert htmx.headers["hx-redirect"] == "/admin/login"


# --- In the browser ---------------------------------------------------------------------


async def test_console_in_a_real_browser(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    require_browser()
    from playwright.async_api import async_playwright, expect

    from services.api.app import create_app

    await seed_city(pool, events=30, profiles=60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    app = create_app(_with_public_url(settings, f"http://127.0.0.1:{port}"))
    external: list[str] = []
    with serve(app, port) as base:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 1000})
                page = await context.new_page()
                page.on(
                    "request",
                    lambda r: None if r.url.startswith(base) else external.append(r.url),
                )

                # A wrong key is refused.
                await page.goto(f"{base}/admin")
                assert page.url == f"{base}/admin/login"
                await page.get_by_label("Admin key").fill("definitely-not-the-key")
                await page.get_by_role("button", name="Sign in").click()
                await expect(page.get_by_role("alert")).to_have_text("That key was refused.")
                await page.screenshot(path=str(SHOTS / "login-refused.png"), full_page=True)

                # The right key signs in and shows the overview.
                await page.get_by_label("Admin key").fill(settings.admin_key or "")
                await page.get_by_role("button", name="Sign in").click()
                await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
                assert page.url == f"{base}/admin"
                await expect(page.locator(".tiles")).to_contain_text("60")
                await page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

                # The weights page previews the active weights: nothing changes yet.
                await page.get_by_role("link", name="Weights").click()
                await expect(page.locator("#preview-summary")).to_be_visible()
                await expect(page.locator("#users-changed")).to_have_text("0")
                assert await _unlabelled_controls(page) == []

                # Move a slider: the preview (debounced) shows users whose top 5 change.
                await page.get_by_label("Minimum score slider").fill("0.65")
                await expect(page.get_by_label("Minimum score", exact=True)).to_have_value("0.65")
                await expect(page.locator("#users-changed")).not_to_have_text("0", timeout=10_000)
                await expect(page.locator("#preview")).to_contain_text("User #")
                await expect(page.locator("#preview")).to_contain_text("disappear")
                # Keyboard: a focused slider moves with the arrow keys and updates its field.
                distance = page.get_by_label("Distance weight slider")
                await distance.focus()
                await page.keyboard.press("ArrowRight")
                await expect(page.get_by_label("Distance weight", exact=True)).to_have_value("1.05")
                await expect(page.locator("#preview")).to_contain_text("User #")
                await page.screenshot(path=str(SHOTS / "weights-preview.png"), full_page=True)
                # The README's picture: what an admin sees first, without the long tail.
                await page.screenshot(path=str(SHOTS / "weights.png"))
                if os.environ.get("LOWKEY_UPDATE_SCREENSHOTS") == "1":
                    shutil.copyfile(SHOTS / "weights.png", DOCS_SCREENSHOT)

                # Save with a note: a new version, active, in the history, re-score under way.
                await page.get_by_label("Note (required): why this change?").fill(
                    "Fewer, better matches"
                )
                await page.get_by_label("Your name (optional)").fill("Browser Test")
                await page.get_by_role("button", name="Save and re-score everyone").click()
                await expect(page.locator("#version-2")).to_contain_text("Fewer, better matches")
                await expect(page.locator("#version-2")).to_contain_text("Browser Test")
                await expect(page.locator("#version-2")).to_contain_text("Active")
                await expect(page.locator("#progress")).to_contain_text(
                    "Re-scoring everything with version 2"
                )
                # The progress polls every 2 s: when the run finishes, the page says so.
                async with pool.acquire() as conn:
                    await conn.execute(
                        "UPDATE rescore_runs SET chunks_total = 4, chunks_done = 4,"
                        " finished_at = started_at + interval '3.5 seconds'"
                        " WHERE weight_version = 2"
                    )
                await expect(page.locator("#progress")).to_contain_text("finished", timeout=8_000)
                await expect(page.locator("#progress")).to_contain_text("3.5 s")
                await page.screenshot(path=str(SHOTS / "weights-saved.png"), full_page=True)

                # Re-activate version 1 with one click.
                await page.get_by_role("button", name="Re-activate version 1").click()
                await expect(page.locator("#version-1")).to_contain_text("Active")
                await expect(
                    page.get_by_role("button", name="Re-activate version 2")
                ).to_be_visible()
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SELECT version FROM active_weights") == 1
                    assert await conn.fetchval("SELECT count(*) FROM weight_versions") == 2

                # A form post without the CSRF token is refused, even with the session.
                forged = await page.request.post(
                    f"{base}/admin/weights/2/activate", form={"x": "1"}, max_redirects=0
                )
                assert forged.status == 403
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SELECT version FROM active_weights") == 1

                # Readable at 200 % zoom: a 640 px wide viewport at scale 2 needs no
                # sideways scrolling.
                zoomed = await browser.new_context(
                    viewport={"width": 640, "height": 900},
                    device_scale_factor=2,
                    storage_state=await context.storage_state(),
                )
                zpage = await zoomed.new_page()
                await zpage.goto(f"{base}/admin/weights")
                await expect(zpage.locator("#preview-summary")).to_be_visible()
                overflow = await zpage.evaluate(
                    "document.documentElement.scrollWidth - window.innerWidth"
                )
                assert overflow <= 0
                await zpage.screenshot(path=str(SHOTS / "weights-200pct.png"), full_page=True)
                await zoomed.close()

                # Sign out: the console is closed again.
                await page.get_by_role("button", name="Sign out").click()
                await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
                await page.goto(f"{base}/admin/weights")
                assert page.url == f"{base}/admin/login"
                await page.screenshot(path=str(SHOTS / "signed-out.png"), full_page=True)
            finally:
                await browser.close()
    assert external == [], "the console made requests off its own server"


async def _unlabelled_controls(page: Any) -> list[str]:
    """Ids of visible form controls with neither a <label for> nor an aria-label."""
    result: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.id || el.name || el.outerHTML)"""
    )
    return result
