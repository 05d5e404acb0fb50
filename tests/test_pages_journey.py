"""The whole journey in Chromium against the real stack (API with its pages, the feed
service, the arq worker): sign up, the feed holds the matches, hide one, it leaves the
feed, sign out and in with the key, a new calendar link, the data downloaded, everything
deleted, and the key no longer signs in."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

import anyio
import asyncpg
import httpx
import icalendar
import msgspec
from browser import CHROMIUM, CHROMIUM_ARGS, OUTPUT, free_port, require_browser, serve

from shared.settings import Settings
from tests.factories import event_body
from tests.test_feed_service import monday

Drain = Callable[[], Awaitable[int]]
SHOTS = OUTPUT / "pages"


def uids(ics: bytes) -> set[str]:
    return {str(e["UID"]) for e in icalendar.Calendar.from_ical(ics).walk("VEVENT")}


async def test_sign_up_to_deletion_in_a_browser_with_the_worker(
    settings: Settings,
    db_clean: None,
    pool: asyncpg.Pool,
    admin_headers: dict[str, str],
    drain_queue: Drain,
) -> None:
    require_browser()
    from playwright.async_api import async_playwright, expect

    from services.api.app import create_app as create_api
    from services.feed.app import create_app as create_feed

    api_port, feed_port = free_port(), free_port()
    stack = msgspec.structs.replace(
        settings,
        public_url=f"http://127.0.0.1:{api_port}",
        feed_base_url=f"http://127.0.0.1:{feed_port}",
    )
    with serve(create_api(stack), api_port) as base, serve(create_feed(stack), feed_port):
        async with httpx.AsyncClient(base_url=base) as http:
            made = await http.post(
                "/v1/admin/organisers",
                json={"name": "Stadtbibliothek", "contact_email": "host@example.org"},
                headers=admin_headers,
            )
            organiser = {"Authorization": f"Bearer {made.json()['api_key']}"}
            events = {}
            for days, title, tag in (
                (1, "Quiet board games", "board-games"),
                (3, "Library book club", "books"),
            ):
                day = monday(1) + timedelta(days=days)
                body = event_body(
                    title=title, tags=[tag], starts_at=f"{day}T19:00:00", ends_at=f"{day}T21:00:00"
                )
                created = await http.post("/v1/events", json=body, headers=organiser)
                assert created.status_code == 201, created.text
                events[title] = created.json()
            await drain_queue()

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    context = await browser.new_context(accept_downloads=True)
                    page = await context.new_page()

                    # Sign up.
                    await page.goto(base + "/")
                    await page.get_by_role("link", name="Get started").first.click()
                    await page.get_by_label("Latitude").fill("52.520")
                    await page.get_by_label("Longitude").fill("13.405")
                    await page.get_by_role("button", name="Next").click()
                    await page.get_by_label("Up to 5 km").check()
                    await page.get_by_role("button", name="Next").click()
                    for row in ("board games", "books"):
                        group = page.get_by_role("radiogroup", name=row)
                        await group.get_by_label("Love it").check()
                    await page.get_by_role("button", name="Next").click()
                    await page.get_by_label("A small group with a clear activity").check()
                    await page.get_by_role("button", name="Next").click()
                    for _ in range(7):
                        await page.get_by_role("button", name="Skip this one").click()
                    await page.get_by_role("button", name="Create my calendar").click()
                    key = (await page.locator("#private-key").inner_text()).strip()
                    feed_url = (await page.locator("#feed-url").input_value()).strip()
                    assert feed_url.startswith(f"http://127.0.0.1:{feed_port}/feeds/")

                    # The worker scores the new profile: the feed holds both matches.
                    assert await drain_queue() >= 1
                    feed = await http.get(feed_url)
                    assert feed.status_code == 200
                    both = {f"event-{e['id']}@lowkey" for e in events.values()}
                    assert uids(feed.content) == both

                    # Hide one on /me: it leaves the page at once and the feed once scored.
                    await page.goto(base + "/me")
                    await expect(page.locator(".suggestion")).to_have_count(2)
                    await page.get_by_role("button", name="Not for me: Library book club").click()
                    await expect(page.locator("#notice")).to_contain_text("Library book club")
                    await expect(page.locator(".suggestion")).to_have_count(1)
                    await drain_queue()
                    book_club = f"event-{events['Library book club']['id']}@lowkey"
                    assert uids((await http.get(feed_url)).content) == both - {book_club}

                    # Sign out, and back in with the key.
                    await page.get_by_role("button", name="Sign out").click()
                    await page.goto(base + "/me")
                    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
                    await page.get_by_label("Your private key").fill(key)
                    await page.get_by_role("button", name="Sign in").click()
                    await expect(page.get_by_role("heading", name="Your page")).to_be_visible()

                    # A new calendar link: the old one answers 404.
                    await page.get_by_role("button", name="Get a new calendar link").click()
                    await expect(page.locator("#notice")).to_contain_text("new calendar link")
                    new_url = (await page.locator("#feed-url").input_value()).strip()
                    assert new_url != feed_url
                    assert (await http.get(feed_url)).status_code == 404
                    assert uids((await http.get(new_url)).content) == both - {book_club}

                    # Download my data.
                    await page.goto(base + "/me")
                    async with page.expect_download() as info:
                        await page.get_by_role("link", name="Download everything").click()
                    download = await info.value
                    data = json.loads(await anyio.Path(await download.path()).read_bytes())
                    assert data["profile"]["feed_url"] == new_url
                    assert [h["event_id"] for h in data["hidden_events"]] == [
                        events["Library book club"]["id"]
                    ]

                    # Delete everything; the key no longer signs in.
                    await page.get_by_role("link", name="Delete everything").click()
                    await page.get_by_label("Yes, delete everything").check()
                    await page.get_by_role("button", name="Delete everything").click()
                    await expect(
                        page.get_by_role("heading", name="Everything is deleted")
                    ).to_be_visible()
                    await page.screenshot(path=str(SHOTS / "journey-deleted-1280.png"))
                    assert (await http.get(new_url)).status_code == 404
                    await page.goto(base + "/me/sign-in")
                    await page.get_by_label("Your private key").fill(key)
                    await page.get_by_role("button", name="Sign in").click()
                    await expect(page.get_by_role("alert")).to_contain_text("did not open a page")
                    me = await http.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
                    assert me.status_code == 401
                finally:
                    await browser.close()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM profiles") == 0
        assert await conn.fetchval("SELECT count(*) FROM user_sessions") == 0
