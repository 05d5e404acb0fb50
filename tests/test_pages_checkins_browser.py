"""Check-ins and a trusted person in a real browser (Debian's chromium through Playwright):
axe-core finds no WCAG 2.2 A/AA violation on any new page or state at 1280 and 390 px (and
200 % zoom), nothing scrolls sideways, the three answers and the trusted-person forms work
with the keyboard alone, and all of it works without JavaScript.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, PHONE, free_port, require_browser, serve, with_axe

from services.api.pages.words import CHECKIN_THANKS
from shared.settings import Settings
from tests.test_feed_service import new_profile
from tests.test_pages_browser import WIDE, check, tab_to
from tests.test_pages_checkins import at_ten, daily_series, local, record

Site = dict[str, Any]


@pytest.fixture
async def site(
    settings: Settings, db_clean: None, pool: asyncpg.Pool, admin_headers: dict[str, str]
) -> AsyncIterator[Site]:
    """The API with its pages on a loopback port; two people; a daily series with ended
    occurrences recorded for the first, and one that was never among their suggestions."""
    require_browser()
    from services.api.app import create_app

    port = free_port()
    local_settings = msgspec.structs.replace(settings, public_url=f"http://127.0.0.1:{port}")
    with serve(create_app(local_settings), port) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            made = await http.post(
                "/v1/admin/organisers",
                json={"name": "Stadtbibliothek", "contact_email": "host@example.org"},
                headers=admin_headers,
            )
            key = made.json()["api_key"]
            tea = await daily_series(http, key, "Morning tea circle")
            walk = await daily_series(http, key, "Slow river walk")
            never = await daily_series(http, key, "Never suggested games")
            wren = await new_profile(http)
            robin = await new_profile(http, display_name="Robin")
        await record(pool, wren["id"], tea["id"], at_ten(1))
        await record(pool, wren["id"], walk["id"], at_ten(4))
        await record(pool, robin["id"], tea["id"], at_ten(1))
        yield {
            "base": base,
            "tea": tea,
            "walk": walk,
            "never": never,
            "wren": wren,
            "robin": robin,
        }


async def answers(pool: asyncpg.Pool, profile: dict[str, Any]) -> list[tuple[int, str, str]]:
    rows = await pool.fetch(
        "SELECT event_id, occurrence, answer FROM checkins WHERE profile_id = $1 ORDER BY id",
        profile["id"],
    )
    return [(r["event_id"], r["occurrence"].isoformat(), r["answer"]) for r in rows]


async def press(page: Any, selector: str, key: str = "Enter") -> None:
    """Tab to `selector` (focus visible on the way) and press `key`, awaiting the next page."""
    await tab_to(page, selector)
    async with page.expect_navigation():
        await page.keyboard.press(key)


async def test_checkins_and_a_trusted_person_by_keyboard_alone_pass_axe(
    site: Site, pool: asyncpg.Pool
) -> None:
    from playwright.async_api import async_playwright, expect

    base, tea, walk = site["base"], site["tea"], site["walk"]
    external: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport=WIDE)
            await with_axe(context)
            page = await context.new_page()
            page.on("request", lambda r: None if r.url.startswith(base) else external.append(r.url))

            # The feed's link, signed out: sign in, and back to the check-in.
            await page.goto(f"{base}/me/checkin/{tea['id']}")
            await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            await check(page, "checkin-sign-in")
            await tab_to(page, "#key")
            await page.keyboard.type(site["wren"]["token"])
            async with page.expect_navigation():
                await page.keyboard.press("Enter")
            assert page.url == f"{base}/me/checkin/{tea['id']}"
            await expect(page.get_by_role("heading", name="How did it go?")).to_be_visible()
            await expect(page.locator(".lead")).to_contain_text("Morning tea circle")
            await check(page, "checkin-open")

            # One key press each; a second answer replaces the first.
            await press(page, 'button[name="answer"][value="went_fine"]')
            await expect(page.locator("#notice")).to_have_text(CHECKIN_THANKS["went_fine"])
            await check(page, "checkin-answered")
            await press(page, 'button[name="answer"][value="didnt_go"]', key="Space")
            await expect(page.locator("#notice")).to_have_text(CHECKIN_THANKS["didnt_go"])
            assert await answers(pool, site["wren"]) == [(tea["id"], local(at_ten(1)), "didnt_go")]

            await page.goto(f"{base}/me/checkin/{site['never']['id']}")
            await expect(page.get_by_role("heading", name="Nothing to answer")).to_be_visible()
            await check(page, "checkin-nothing")

            # /me: the open check-ins, answered there by keyboard.
            await page.goto(base + "/me")
            await expect(page.locator("#checkins")).to_contain_text("Slow river walk")
            await check(page, "me-checkins")
            await press(page, 'button[aria-label^="It was too much: Slow river walk"]')
            await expect(page.locator("#notice")).to_have_text(CHECKIN_THANKS["too_much"])
            await expect(page.locator("#checkins")).to_contain_text("You said it was too much.")
            assert (walk["id"], local(at_ten(4)), "too_much") in await answers(pool, site["wren"])
            await check(page, "me-checkin-answered")

            # A code that is not one: the problem by the field and at the top.
            await tab_to(page, "#buddy_code")
            await page.keyboard.type("not a code")
            async with page.expect_navigation():
                await page.keyboard.press("Enter")
            await expect(page.locator(".error-summary")).to_contain_text("invite code")
            await expect(page.locator("#err-buddy_code")).to_be_visible()
            await check(page, "me-buddy-error")

            # An invite, by keyboard; the code shown once.
            await press(page, 'form[action="/me/buddy/invite"] button')
            await expect(page.get_by_role("heading", name="Your invite code")).to_be_visible()
            await expect(page.locator("#what-linking-shows")).to_contain_text("Neither of you")
            await check(page, "buddy-invite")
            code = (await page.locator("#invite-code").inner_text()).strip()

            # Robin, in a browser of their own, links with it by keyboard.
            other = await browser.new_context(viewport=WIDE)
            await with_axe(other)
            robin = await other.new_page()
            await robin.goto(base + "/me/sign-in")
            await tab_to(robin, "#key")
            await robin.keyboard.type(site["robin"]["token"])
            async with robin.expect_navigation():
                await robin.keyboard.press("Enter")
            await tab_to(robin, "#buddy_code")
            await robin.keyboard.type(code.lower())
            async with robin.expect_navigation():
                await robin.keyboard.press("Enter")
            await expect(robin.locator("#notice")).to_contain_text("linked with Wren Quietwater")
            await check(robin, "me-buddy-linked")
            await other.close()

            # Unlinking asks first.
            await page.goto(base + "/me")
            await expect(page.locator("#buddy")).to_contain_text("You are linked with Robin")
            await press(page, 'a[href="/me/buddy/unlink"]')
            await expect(page.get_by_role("heading", name="Unlink from Robin?")).to_be_visible()
            await check(page, "buddy-unlink")
            await press(page, 'button[name="confirm"]')
            await expect(page.locator("#notice")).to_contain_text("no longer linked")
            assert await pool.fetchval("SELECT count(*) FROM buddies") == 0
        finally:
            await browser.close()
    assert external == [], "the pages made requests off their own server"


async def test_checkins_and_a_trusted_person_work_without_javascript(
    site: Site, pool: asyncpg.Pool
) -> None:
    from playwright.async_api import async_playwright, expect

    base, tea = site["base"], site["tea"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            wren = await (
                await browser.new_context(java_script_enabled=False, viewport=PHONE)
            ).new_page()
            await wren.goto(f"{base}/me/checkin/{tea['id']}")
            await wren.get_by_label("Your private key").fill(site["wren"]["token"])
            await wren.get_by_role("button", name="Sign in").click()
            await wren.get_by_role("button", name="It was too much").click()
            await expect(wren.locator("#notice")).to_have_text(CHECKIN_THANKS["too_much"])
            assert await answers(pool, site["wren"]) == [(tea["id"], local(at_ten(1)), "too_much")]

            await wren.goto(base + "/me")
            await wren.get_by_role("button", name="Make an invite code").click()
            await expect(wren.get_by_role("button", name="Copy the code")).to_be_hidden()
            code = (await wren.locator("#invite-code").inner_text()).strip()

            robin = await (
                await browser.new_context(java_script_enabled=False, viewport=PHONE)
            ).new_page()
            await robin.goto(base + "/me/sign-in")
            await robin.get_by_label("Your private key").fill(site["robin"]["token"])
            await robin.get_by_role("button", name="Sign in").click()
            await robin.get_by_label("The code from your trusted person").fill(code)
            await robin.get_by_role("button", name="Link with them").click()
            await expect(robin.locator("#buddy")).to_contain_text("linked with Wren Quietwater")
            # Robin's own check-in for the same morning, from /me.
            await robin.get_by_role("button", name="It went fine: Morning tea circle").click()
            await expect(robin.locator("#notice")).to_have_text(CHECKIN_THANKS["went_fine"])
            assert await answers(pool, site["robin"]) == [
                (tea["id"], local(at_ten(1)), "went_fine")
            ]

            await robin.goto(base + "/me/buddy/unlink")
            await robin.get_by_role("button", name="Yes, unlink").click()
            await expect(robin.locator("#notice")).to_contain_text("no longer linked")
            assert await pool.fetchval("SELECT count(*) FROM buddies") == 0
        finally:
            await browser.close()
