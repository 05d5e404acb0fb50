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
from browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OUTPUT,
    PHONE,
    axe_violations,
    free_port,
    require_browser,
    serve,
    sideways_overflow,
    with_axe,
)
from litestar.testing import AsyncTestClient
from test_api_weights import DEFAULTS, seed_city

from services.api.console.session import CSRF_COOKIE, SESSION_COOKIE, cookies_secure
from shared.settings import Settings

SHOTS = OUTPUT / "console"
# Refreshed only on request (LOWKEY_UPDATE_SCREENSHOTS=1): a committed file that every
# test run rewrote would always show as changed.
DOCS_SCREENSHOT = OUTPUT.parent / "docs" / "console.png"
CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
async def _no_console_sessions(pool: asyncpg.Pool) -> None:
    """Each test counts its own sessions (db_clean leaves this table alone)."""
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM console_sessions")


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


async def test_a_new_admin_key_ends_old_sessions(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
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
    # Refused once, the session is gone: the old key back again does not revive it.
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM console_sessions") == 0
    async with AsyncTestClient(app=create_app(settings), base_url="https://api.test") as client:
        client.cookies = cookies
        assert (await client.get("/admin", follow_redirects=False)).status_code == 303


async def test_sign_out_ends_the_session_for_a_saved_cookie(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    from services.api.app import create_app

    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url="https://api.test") as client:
        token, _ = await _signed_in_client(client, settings)
        saved = client.cookies.get(SESSION_COOKIE)
        assert saved and (await client.get("/admin", follow_redirects=False)).status_code == 200
        # The database holds a keyed hash of the id, never the id (a copy opens nothing).
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT id_hash, admin_fingerprint FROM console_sessions")
        assert len(rows) == 1
        stored = {bytes(rows[0]["id_hash"]), bytes(rows[0]["admin_fingerprint"])}
        assert saved.encode() not in stored and (settings.admin_key or "").encode() not in stored
        out = await client.post(
            "/admin/logout", data={"_csrf_token": token}, follow_redirects=False
        )
        assert out.status_code == 303 and out.headers["location"] == "/admin/login"
        assert f'{SESSION_COOKIE}=""' in out.headers["set-cookie"] or (
            f"{SESSION_COOKIE}=;" in out.headers["set-cookie"]
        )
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM console_sessions") == 0
    # A copy of the cookie saved before sign-out opens nothing afterwards.
    async with AsyncTestClient(app=app, base_url="https://api.test") as replay:
        replay.cookies.set(SESSION_COOKIE, saved, domain="api.test", path="/admin")
        for path in ("/admin", "/admin/weights"):
            response = await replay.get(path, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"] == "/admin/login"
        # Nor does the stored hash, used as a cookie.
        stored_hash = rows[0]["id_hash"].hex()
        replay.cookies.set(SESSION_COOKIE, stored_hash, domain="api.test", path="/admin")
        assert (await replay.get("/admin", follow_redirects=False)).status_code == 303


async def test_sign_in_attempts_are_rate_limited(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    from services.api.app import create_app
    from services.api.console.session import LOGIN_ATTEMPTS_PER_MINUTE

    async with AsyncTestClient(app=create_app(settings), base_url="https://api.test") as client:
        page = await client.get("/admin/login")
        token = CSRF_FIELD.search(page.text).group(1)  # type: ignore[union-attr]
        for n in range(LOGIN_ATTEMPTS_PER_MINUTE):
            wrong = await client.post(
                "/admin/login", data={"admin_key": f"guess-{n}", "_csrf_token": token}
            )
            assert wrong.status_code == 401
        # Past the limit even the right key is turned away, with when to come back.
        limited = await client.post(
            "/admin/login",
            data={"admin_key": settings.admin_key, "_csrf_token": token},
            follow_redirects=False,
        )
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "Too many sign-in attempts" in limited.text and 'name="admin_key"' in limited.text
        assert SESSION_COOKIE not in limited.headers.get("set-cookie", "")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM console_sessions") == 0


async def test_re_activating_asks_first(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    from services.api.app import create_app

    await seed_city(pool, events=10, profiles=25)
    async with AsyncTestClient(app=create_app(settings), base_url="https://api.test") as client:
        token, _ = await _signed_in_client(client, settings)
        form = {**{k: str(v) for k, v in DEFAULTS.items()}, "note": "two", "_csrf_token": token}
        await client.post("/admin/weights", data=form, follow_redirects=False)
        # A post that did not come from the confirmation page is sent there, nothing done.
        unasked = await client.post(
            "/admin/weights/1/activate", data={"_csrf_token": token}, follow_redirects=False
        )
        assert unasked.status_code == 303
        assert unasked.headers["location"] == "/admin/weights/1/activate"
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT version FROM active_weights") == 2
        confirm = await client.get("/admin/weights/1/activate")
        assert confirm.status_code == 200
        assert "live for every user at once" in confirm.text
        assert 'name="confirm" value="yes"' in confirm.text
        done = await client.post(
            "/admin/weights/1/activate",
            data={"_csrf_token": token, "confirm": "yes"},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/admin/weights"
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT version FROM active_weights") == 1
        # Already active: no question to ask.
        again = await client.get("/admin/weights/1/activate", follow_redirects=False)
        assert again.status_code == 303
        missing = await client.get("/admin/weights/99/activate", follow_redirects=False)
        assert missing.status_code == 404


async def test_console_preview_says_why_it_cannot_sample(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    from services.api.app import create_app

    await seed_city(pool, events=5, profiles=12)
    async with AsyncTestClient(app=create_app(settings), base_url="https://api.test") as client:
        token, _ = await _signed_in_client(client, settings)
        form = {k: str(v) for k, v in DEFAULTS.items()}
        headers = {"x-csrftoken": token, "HX-Request": "true"}
        few = await client.post("/admin/weights/preview", data=form, headers=headers)
        assert few.status_code == 200
        assert "at least 20 users to sample from and there are 12" in few.text
        small = await client.post(
            "/admin/weights/preview", data={**form, "sample_size": "5"}, headers=headers
        )
        assert "sample_size" in small.text and "User #" not in small.text


# --- In the browser ---------------------------------------------------------------------

# Bars whose length is not their count's share of the largest count in their table (a
# count above 0 gets at least a sliver of 0.15rem).
BAR_ERRORS_JS = """() => {
  const errors = [];
  for (const table of document.querySelectorAll('table.bars')) {
    const meters = [...table.querySelectorAll('.meter')];
    const counts = meters.map(m => Number(m.querySelector('.n').textContent));
    const peak = Math.max(1, ...counts);
    meters.forEach((m, i) => {
      const track = m.querySelector('.track').getBoundingClientRect().width;
      const bar = m.querySelector('.bar').getBoundingClientRect().width;
      const want = Math.max(track * counts[i] / peak, counts[i] > 0 ? 2.4 : 0);
      if (Math.abs(bar - want) > Math.max(1.5, 0.01 * track)) {
        errors.push(`${counts[i]} of ${peak}: bar ${bar.toFixed(1)} px of ${track.toFixed(1)}`);
      }
    });
  }
  return errors;
}"""


async def _bar_errors(page: Any) -> list[str]:
    errors: list[str] = await page.evaluate(BAR_ERRORS_JS)
    return errors


async def _check_page(page: Any, name: str) -> None:
    """axe-core finds no WCAG 2.2 A/AA violation, the page needs no sideways scrolling and
    every bar shows its count; a screenshot is kept under test-output/console."""
    width = page.viewport_size["width"]
    await page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    assert await axe_violations(page) == [], f"{name} at {width} px"
    assert await sideways_overflow(page) <= 0, f"{name} scrolls sideways at {width} px"
    assert await _bar_errors(page) == [], f"{name} at {width} px"


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
                await with_axe(context)
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
                await _check_page(page, "login-refused")

                # The right key signs in and shows the overview.
                await page.get_by_label("Admin key").fill(settings.admin_key or "")
                await page.get_by_role("button", name="Sign in").click()
                await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
                assert page.url == f"{base}/admin"
                await expect(page.locator(".tiles").first).to_contain_text("60")
                await expect(page.locator("#buddy-pairs")).to_have_text("0")
                await _check_page(page, "overview")

                # The weights page previews the active weights: nothing changes yet.
                await page.get_by_role("link", name="Weights").click()
                await expect(page.locator("#preview-summary")).to_be_visible()
                await expect(page.locator("#users-changed")).to_have_text("0")
                assert await _unlabelled_controls(page) == []
                await _check_page(page, "weights")

                # Move a slider: the preview (debounced) shows users whose top 5 change,
                # each entry with its next date and why, never a score or a distance.
                await page.get_by_label("Minimum score slider").fill("0.65")
                await expect(page.get_by_label("Minimum score", exact=True)).to_have_value("0.65")
                await expect(page.locator("#users-changed")).not_to_have_text("0", timeout=10_000)
                await expect(page.locator("#preview")).to_contain_text("User #")
                await expect(page.locator("#preview")).to_contain_text("disappear")
                await expect(page.locator("#preview .when").first).to_contain_text("next: ")
                preview_text = await page.locator("#preview .user").all_inner_texts()
                assert preview_text and not any("km" in t for t in preview_text)
                # Keyboard: a focused slider moves with the arrow keys and updates its field.
                distance = page.get_by_label("Distance weight slider")
                await distance.focus()
                await page.keyboard.press("ArrowRight")
                await expect(page.get_by_label("Distance weight", exact=True)).to_have_value("1.05")
                await expect(page.locator("#preview")).to_contain_text("User #")
                await _check_page(page, "weights-preview")

                # Save with a note: a new version, active, in the history, live at once.
                await page.get_by_label("Note (required): why this change?").fill(
                    "Fewer, better matches"
                )
                await page.get_by_label("Your name (optional)").fill("Browser Test")
                await page.get_by_role("button", name="Save: live for everyone at once").click()
                await expect(page.locator("#version-2")).to_contain_text("Fewer, better matches")
                await expect(page.locator("#version-2")).to_contain_text("Browser Test")
                await expect(page.locator("#version-2")).to_contain_text("Active")
                await expect(page.locator("#progress")).to_contain_text("live at once")
                # The nightly check's full re-score shows while it runs.
                async with pool.acquire() as conn:
                    await conn.execute(
                        "INSERT INTO rescore_runs (weight_version, reason) VALUES (2, 'nightly')"
                    )
                await page.reload()
                await expect(page.locator("#progress")).to_contain_text(
                    "Re-scoring every user's matches with weights version 2, because of the"
                    " nightly check"
                )
                await expect(page.locator("#progress")).not_to_contain_text("?")
                # The progress polls every 2 s: when the run finishes, the page says so.
                async with pool.acquire() as conn:
                    await conn.execute(
                        "UPDATE rescore_runs SET chunks_total = 4, chunks_done = 4,"
                        " finished_at = started_at + interval '3.5 seconds'"
                        " WHERE weight_version = 2"
                    )
                await expect(page.locator("#progress")).to_contain_text("finished", timeout=8_000)
                await expect(page.locator("#progress")).to_contain_text("after 3.5 s")
                await _check_page(page, "weights-saved")

                # Re-activating version 1 asks first, then does it.
                await page.get_by_role("link", name="Re-activate version 1…").click()
                await expect(
                    page.get_by_role("heading", name="Re-activate version 1?")
                ).to_be_visible()
                confirm_preview = page.locator("#confirm-preview")
                await expect(confirm_preview).to_contain_text("In a sample of 50 users")
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SELECT version FROM active_weights") == 2
                await _check_page(page, "confirm-activate")
                await page.get_by_role(
                    "button", name="Yes, re-activate version 1 for everyone"
                ).click()
                await expect(page.locator("#version-1")).to_contain_text("Active")
                again = page.get_by_role("link", name="Re-activate version 2…")
                await expect(again).to_be_visible()
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SELECT version FROM active_weights") == 1
                    assert await conn.fetchval("SELECT count(*) FROM weight_versions") == 2

                # A form post without the CSRF token is refused, even with the session.
                forged = await page.request.post(
                    f"{base}/admin/weights/2/activate",
                    form={"confirm": "yes"},
                    max_redirects=0,
                )
                assert forged.status == 403
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SELECT version FROM active_weights") == 1

                # At 390 px (a phone), every page passes axe and needs no sideways scrolling.
                signed_in = await context.storage_state()
                phone = await browser.new_context(viewport=PHONE, storage_state=signed_in)
                await with_axe(phone)
                ppage = await phone.new_page()
                await ppage.goto(f"{base}/admin")
                await _check_page(ppage, "overview")
                await ppage.goto(f"{base}/admin/weights")
                await expect(ppage.locator("#preview-summary")).to_be_visible()
                await _check_page(ppage, "weights")
                await ppage.goto(f"{base}/admin/weights/2/activate")
                await _check_page(ppage, "confirm-activate")
                await phone.close()

                # Readable at 200 % zoom: a 640 px wide viewport at scale 2 needs no
                # sideways scrolling.
                zoomed = await browser.new_context(
                    viewport={"width": 640, "height": 900},
                    device_scale_factor=2,
                    storage_state=signed_in,
                )
                zpage = await zoomed.new_page()
                await zpage.goto(f"{base}/admin/weights")
                await expect(zpage.locator("#preview-summary")).to_be_visible()
                assert await sideways_overflow(zpage) <= 0
                await zpage.screenshot(path=str(SHOTS / "weights-200pct.png"), full_page=True)
                await zoomed.close()

                # Without JavaScript the confirmation works the same (plain links and forms).
                plain = await browser.new_context(
                    viewport={"width": 1280, "height": 1000},
                    java_script_enabled=False,
                    storage_state=signed_in,
                )
                npage = await plain.new_page()
                await npage.goto(f"{base}/admin/weights")
                await npage.get_by_role("link", name="Re-activate version 2…").click()
                await npage.get_by_role(
                    "button", name="Yes, re-activate version 2 for everyone"
                ).click()
                await expect(npage.locator("#version-2")).to_contain_text("Active")
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SELECT version FROM active_weights") == 2
                await plain.close()

                # Sign out: the console is closed again, also to a saved copy of the cookie.
                await page.get_by_role("button", name="Sign out").click()
                await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
                await page.goto(f"{base}/admin/weights")
                assert page.url == f"{base}/admin/login"
                await page.screenshot(path=str(SHOTS / "signed-out.png"), full_page=True)
                replay = await browser.new_context(storage_state=signed_in)
                rpage = await replay.new_page()
                await rpage.goto(f"{base}/admin")
                assert rpage.url == f"{base}/admin/login"
                await replay.close()

                # The sign-in page at 390 px too.
                phone = await browser.new_context(viewport=PHONE)
                await with_axe(phone)
                ppage = await phone.new_page()
                await ppage.goto(f"{base}/admin/login")
                await _check_page(ppage, "login")
                await phone.close()
            finally:
                await browser.close()
    assert external == [], "the console made requests off its own server"


async def test_console_on_the_demo_city(
    settings: Settings, db_clean: None, pool: asyncpg.Pool
) -> None:
    """The demo city (`lowkey up --demo`) in the console: counts in the hundreds keep bars
    apart, each preview entry can be told apart by its next date, and the README's picture
    (docs/console.png, refreshed with LOWKEY_UPDATE_SCREENSHOTS=1) shows this city."""
    require_browser()
    from playwright.async_api import async_playwright, expect

    from services.api.app import create_app
    from shared.demo import load_demo

    assert await load_demo(settings) is not None
    SHOTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    app = create_app(_with_public_url(settings, f"http://127.0.0.1:{port}"))
    with serve(app, port) as base:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 1000})
                await with_axe(context)
                page = await context.new_page()
                await page.goto(f"{base}/admin/login")
                await page.get_by_label("Admin key").fill(settings.admin_key or "")
                await page.get_by_role("button", name="Sign in").click()
                await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
                counts = [int(t) for t in await page.locator("table.bars .n").all_inner_texts()]
                assert max(counts) > 550  # where bars used to stop growing
                await _check_page(page, "demo-overview")

                await page.get_by_role("link", name="Weights").click()
                await expect(page.locator("#preview-summary")).to_be_visible()
                await page.get_by_label("Distance weight", exact=True).fill("2.5")
                await expect(page.locator("#users-changed")).not_to_have_text("0", timeout=10_000)
                await expect(page.locator("#preview")).to_contain_text("User #")
                for entries in await page.locator("#preview .user ol").all():
                    items = await entries.locator("li").all_inner_texts()
                    # Title and next date (the first two lines) tell every entry apart.
                    heads = [tuple(item.splitlines()[:2]) for item in items]
                    assert len(set(heads)) == len(heads), heads
                    assert all("Event " not in item for item in items)
                # The README's picture: the weights, the preview and a user whose top 5 change.
                await page.set_viewport_size({"width": 1280, "height": 1400})
                await page.screenshot(path=str(SHOTS / "weights.png"))
                await page.set_viewport_size({"width": 1280, "height": 1000})
                if os.environ.get("LOWKEY_UPDATE_SCREENSHOTS") == "1":
                    shutil.copyfile(SHOTS / "weights.png", DOCS_SCREENSHOT)
                await _check_page(page, "demo-weights")

                phone = await browser.new_context(
                    viewport=PHONE, storage_state=await context.storage_state()
                )
                await with_axe(phone)
                ppage = await phone.new_page()
                await ppage.goto(f"{base}/admin")
                await _check_page(ppage, "demo-overview")
                await ppage.goto(f"{base}/admin/weights")
                await expect(ppage.locator("#preview-summary")).to_be_visible()
                await _check_page(ppage, "demo-weights")
            finally:
                await browser.close()


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
