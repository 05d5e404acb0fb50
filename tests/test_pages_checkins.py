"""Check-ins on the pages over HTTP: `/me/checkin/{event_id}` asks to sign in and comes
back, offers the three answers for the latest ended occurrence that may be answered (one
click each, then a kind word, again replacing the answer), says so in plain words when
there is nothing to answer, and /me lists the open ones with the answers given. Every
answer is POST /v1/me/checkins' own: what the API refuses, the page refuses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.api.pages.words import CHECKIN_THANKS
from shared.settings import Settings
from tests.factories import bearer, create_organiser, post_event
from tests.test_feed_service import new_profile
from tests.test_pages_me import post_form, sign_in
from tests.test_pages_start import token_of

Client = AsyncTestClient[Any]
ANSWER_BUTTONS = re.compile(r'<button type="submit" name="answer" value="([a-z_]+)"')


@pytest.fixture
async def pages(settings: Settings, db_clean: None) -> AsyncIterator[Client]:
    from services.api.app import create_app

    local = msgspec.structs.replace(settings, public_url="http://127.0.0.1:8000")
    async with AsyncTestClient(app=create_app(local), base_url="http://127.0.0.1:8000") as c:
        yield c


def at_ten(days_ago: int) -> datetime:
    """10:00 UTC, `days_ago` days back: an occurrence of the daily series below."""
    today = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def local(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat()


def shown(moment: datetime) -> str:
    """How the pages write a local start: 'Tuesday 3 March 2026, 10:00'."""
    return f"{moment:%A} {moment.day} {moment:%B %Y}, {moment:%H:%M}"


async def daily_series(client: Client, key: str, title: str) -> dict[str, Any]:
    """An hour a day at 10:00 UTC, begun 20 days ago."""
    start = at_ten(20)
    return await post_event(
        client,
        key,
        title=title,
        timezone="UTC",
        starts_at=local(start),
        ends_at=local(start + timedelta(hours=1)),
        recurrence="FREQ=DAILY",
    )


async def record(pool: asyncpg.Pool, profile_id: int, event_id: int, start: datetime) -> None:
    """The record the worker's cron makes as a matched occurrence starts."""
    await pool.execute(
        "INSERT INTO match_occurrences (profile_id, event_id, starts_at, starts_at_utc,"
        " ends_at_utc, intensity, comfort_level) VALUES ($1, $2, $3, $4, $5, 1, 3)",
        profile_id,
        event_id,
        start.replace(tzinfo=None),
        start,
        start + timedelta(hours=1),
    )


async def answers_stored(pool: asyncpg.Pool, profile_id: int) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT occurrence, answer FROM checkins WHERE profile_id = $1 ORDER BY occurrence",
        profile_id,
    )
    return [(r["occurrence"].isoformat(), r["answer"]) for r in rows]


async def answer(client: Client, path: str, occurrence: str, value: str, **extra: str) -> Any:
    return await post_form(
        client, path, path.split("?")[0], occurrence=occurrence, answer=value, **extra
    )


@pytest.fixture
async def organiser_key(pages: Client, admin_headers: dict[str, str]) -> str:
    return (await create_organiser(pages, admin_headers))[1]


async def test_signed_out_it_asks_to_sign_in_then_comes_back_to_the_checkin(
    pages: Client, organiser_key: str
) -> None:
    profile = await new_profile(pages)
    event = await daily_series(pages, organiser_key, "Morning tea circle")
    path = f"/me/checkin/{event['id']}"

    asked = await pages.get(path, follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/me/sign-in?next={quote(path, safe='')}"
    sign_in_page = (await pages.get(asked.headers["location"])).text
    assert f'<input type="hidden" name="next" value="{path}">' in sign_in_page
    assert "come straight back" in sign_in_page

    wrong = await pages.post(
        "/me/sign-in",
        data={"key": "lk_usr_nope", "next": path, "_csrf_token": token_of(sign_in_page)},
    )
    assert wrong.status_code == 401
    assert f'name="next" value="{path}"' in wrong.text, "a wrong key keeps the way back"
    right = await pages.post(
        "/me/sign-in",
        data={"key": profile["token"], "next": path, "_csrf_token": token_of(sign_in_page)},
        follow_redirects=False,
    )
    assert right.status_code == 303 and right.headers["location"] == path
    # Signed in, the sign-in page itself forwards there too.
    again = await pages.get(f"/me/sign-in?next={quote(path)}", follow_redirects=False)
    assert again.headers["location"] == path


@pytest.mark.parametrize(
    "next_value",
    ["https://elsewhere.example/me", "//elsewhere.example/me", "/me/../events/1", "/metoo", ""],
)
async def test_sign_in_never_leads_off_the_persons_own_pages(
    pages: Client, next_value: str
) -> None:
    profile = await new_profile(pages)
    form = (await pages.get("/me/sign-in")).text
    done = await pages.post(
        "/me/sign-in",
        data={"key": profile["token"], "next": next_value, "_csrf_token": token_of(form)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/me"


async def test_the_latest_ended_occurrence_gets_three_one_click_answers_and_a_kind_word(
    pages: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(pages)
    event = await daily_series(pages, organiser_key, "Morning tea circle")
    for days_ago in (3, 2):
        await record(pool, profile["id"], event["id"], at_ten(days_ago))
    await sign_in(pages, profile["token"])
    path = f"/me/checkin/{event['id']}"

    page = await pages.get(path)
    assert page.status_code == 200
    assert '<h1 id="checkin-title">How did it go?</h1>' in page.text
    assert f'<a href="/events/{event["id"]}">Morning tea circle</a>' in page.text
    latest = at_ten(2)
    assert shown(latest) in page.text and shown(at_ten(3)) not in page.text
    assert f'name="occurrence" value="{local(latest)}"' in page.text
    assert ANSWER_BUTTONS.findall(page.text) == ["went_fine", "too_much", "didnt_go"]
    for words in ("It went fine", "It was too much", "I didn't go"):
        assert f">{words}</button>" in page.text.replace("&#39;", "'")
    assert "One click is enough" in page.text

    done = await answer(pages, path, local(latest), "went_fine")
    assert done.status_code == 303
    assert done.headers["location"] == f"{path}?said=went_fine#notice"
    assert await answers_stored(pool, profile["id"]) == [(local(latest), "went_fine")]
    after = (await pages.get(f"{path}?said=went_fine")).text
    assert CHECKIN_THANKS["went_fine"] in after
    assert "You said it went fine. You can change that" in after

    # Answering again replaces the answer: still one, now didnt_go, as the API lists it.
    again = await answer(pages, path, local(latest), "didnt_go")
    assert again.status_code == 303
    assert await answers_stored(pool, profile["id"]) == [(local(latest), "didnt_go")]
    changed = (await pages.get(f"{path}?said=didnt_go")).text.replace("&#39;", "'")
    assert CHECKIN_THANKS["didnt_go"] in changed and "You said you didn't go" in changed
    listed = (await pages.get("/v1/me/checkins", headers=bearer(profile["token"]))).json()
    assert [(c["event_id"], c["occurrence"], c["answer"]) for c in listed["items"]] == [
        (event["id"], local(latest), "didnt_go")
    ]
    # The kind word follows only the answer actually given.
    assert CHECKIN_THANKS["too_much"] not in (await pages.get(f"{path}?said=too_much")).text


async def test_nothing_to_answer_is_said_in_plain_words(
    pages: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(pages)
    never = await daily_series(pages, organiser_key, "Never suggested walk")
    too_old = await daily_series(pages, organiser_key, "Long ago knitting")
    await record(pool, profile["id"], too_old["id"], at_ten(15))
    upcoming = await post_event(pages, organiser_key, title="Soon: quiet games")
    began = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    running = await post_event(
        pages,
        organiser_key,
        title="Going on now: a slow swim",
        timezone="UTC",
        starts_at=local(began),
        ends_at=local(began + timedelta(hours=1)),
    )
    await record(pool, profile["id"], running["id"], began)  # started, not over
    moved = await daily_series(pages, organiser_key, "Moved to another hour")
    await record(pool, profile["id"], moved["id"], at_ten(2) + timedelta(minutes=30))
    await sign_in(pages, profile["token"])

    for event in (never, too_old, upcoming, running, moved):
        page = await pages.get(f"/me/checkin/{event['id']}")
        assert page.status_code == 200
        assert "Nothing to answer just now" in page.text
        assert event["title"] in page.text
        assert "for 14 days afterwards" in page.text
        assert ANSWER_BUTTONS.findall(page.text) == []
    for missing in ("987654321", str(2**63), str(2**70)):
        gone = await pages.get(f"/me/checkin/{missing}")
        assert gone.status_code == 404 and "We could not find that" in gone.text


async def test_someone_elses_occurrence_cannot_be_answered(
    pages: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    me, other = await new_profile(pages), await new_profile(pages, display_name="Other")
    event = await daily_series(pages, organiser_key, "Morning tea circle")
    await record(pool, other["id"], event["id"], at_ten(2))
    await sign_in(pages, me["token"])
    path = f"/me/checkin/{event['id']}"

    page = (await pages.get(path)).text
    assert "Nothing to answer just now" in page and ANSWER_BUTTONS.findall(page) == []
    # A form made up for the other person's occurrence: the API's own refusal.
    forged = await post_form(pages, "/me", path, occurrence=local(at_ten(2)), answer="too_much")
    assert forged.status_code == 422
    assert "That one can no longer be answered" in forged.text
    assert await answers_stored(pool, me["id"]) == []
    assert await answers_stored(pool, other["id"]) == []


async def test_an_answer_without_a_valid_csrf_token_or_value_changes_nothing(
    pages: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(pages)
    event = await daily_series(pages, organiser_key, "Morning tea circle")
    await record(pool, profile["id"], event["id"], at_ten(1))
    await sign_in(pages, profile["token"])
    path = f"/me/checkin/{event['id']}"
    await pages.get(path)

    for token in ({}, {"_csrf_token": "forged"}):
        refused = await pages.post(
            path, data={"occurrence": local(at_ten(1)), "answer": "went_fine", **token}
        )
        assert refused.status_code == 403 and "That form had expired" in refused.text
    bad = await answer(pages, path, local(at_ten(1)), "fine")
    assert bad.status_code == 422 and "Choose one of the three answers." in bad.text
    assert 'role="alert"' in bad.text
    assert ANSWER_BUTTONS.findall(bad.text) == ["went_fine", "too_much", "didnt_go"]
    no_time = await answer(pages, path, "yesterday", "went_fine")
    assert no_time.status_code == 422
    assert await answers_stored(pool, profile["id"]) == []

    # Signed out, a form posted with a valid token asks to sign in and saves nothing.
    await post_form(pages, "/me", "/me/sign-out")
    signed_out = await pages.post(
        path,
        data={
            "occurrence": local(at_ten(1)),
            "answer": "went_fine",
            "_csrf_token": token_of((await pages.get("/me/sign-in")).text),
        },
        follow_redirects=False,
    )
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/me/sign-in"
    assert await answers_stored(pool, profile["id"]) == []


async def test_me_lists_open_checkins_with_the_three_answers_and_earlier_answers(
    pages: Client, pool: asyncpg.Pool, organiser_key: str
) -> None:
    profile = await new_profile(pages)
    tea = await daily_series(pages, organiser_key, "Morning tea circle")
    walk = await daily_series(pages, organiser_key, "Slow river walk")
    await record(pool, profile["id"], tea["id"], at_ten(2))
    await record(pool, profile["id"], walk["id"], at_ten(5))
    # An answer from weeks ago, no longer open: listed among the earlier ones.
    await pool.execute(
        "INSERT INTO checkins (profile_id, event_id, occurrence, occurrence_utc, answer,"
        " intensity, comfort_level) VALUES ($1, $2, $3, $4, 'went_fine', 1, 3)",
        profile["id"],
        walk["id"],
        at_ten(19).replace(tzinfo=None),
        at_ten(19),
    )
    await sign_in(pages, profile["token"])

    me = (await pages.get("/me")).text
    section = me[me.index('id="checkins"') : me.index('id="buddy"')]
    assert section.index("Morning tea circle") < section.index("Slow river walk"), "newest first"
    assert ANSWER_BUTTONS.findall(section) == ["went_fine", "too_much", "didnt_go"] * 2
    assert f'name="occurrence" value="{local(at_ten(5))}"' in section
    assert 'aria-label="It was too much: Slow river walk, ' in section
    earlier = section[section.index("Your earlier answers") :]
    day = at_ten(19)
    assert "Slow river walk, <time" in earlier
    assert f"{day.day} {day:%B %Y}</time>: it went fine" in earlier

    done = await post_form(
        pages,
        "/me",
        f"/me/checkin/{walk['id']}",
        occurrence=local(at_ten(5)),
        answer="too_much",
        **{"from": "me"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/me?said=too_much#notice"
    # Posted from /me, the form names its own occurrence, older than the latest.
    assert (walk["id"], local(at_ten(5)), "too_much") in {
        (r["event_id"], r["occurrence"].isoformat(), r["answer"])
        for r in await pool.fetch("SELECT * FROM checkins WHERE profile_id = $1", profile["id"])
    }
    after = (await pages.get("/me?said=too_much")).text
    assert CHECKIN_THANKS["too_much"] in after
    assert f"{shown(at_ten(5))}</time>. You said it was too much." in after


async def test_me_says_when_there_is_nothing_to_answer(pages: Client) -> None:
    profile = await new_profile(pages)
    await sign_in(pages, profile["token"])
    me = (await pages.get("/me")).text
    assert "Nothing to answer just now. After an event from your suggestions" in me
    assert "Your earlier answers" not in me and ANSWER_BUTTONS.findall(me) == []
