"""What to expect (SPEC "What to expect"): `first_visit` on events through the API, its
limits and the control-character rule, a greeter as newcomer support, a change as a new
`sequence`, and the sentences under "First time?" in the standard feed and on the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from tests.factories import bearer, create_organiser, event_body, post_event
from tests.test_feed_service import feed_path, monday, new_event, new_profile, read_everywhere, uid

Client = AsyncTestClient[Any]
Drain = Callable[[], Awaitable[int]]

FIRST_VISIT = {
    "how_to_find": "side door on Park Lane,\r\nroom 2,\tfirst floor",
    "greeter": "Sam, in the green scarf, greets newcomers at the door",
    "what_to_bring": "nothing; tea is on us",
    "leaving_early_ok": True,
}
STORED = {
    "how_to_find": "side door on Park Lane,\nroom 2, first floor",
    "greeter": "Sam, in the green scarf, greets newcomers at the door",
    "what_to_bring": "nothing; tea is on us",
    "leaving_early_ok": True,
}
SENTENCES = (
    "Sam, in the green scarf, greets newcomers at the door. "
    "Finding it: side door on Park Lane,\nroom 2, first floor. "
    "What to bring: nothing; tea is on us. "
    "Leaving early is fine. There is a quiet room."
)
# Size 8 (level 2), structured, quiet, talking expected: intensity 2, or 1 with support.
PLAIN = {"group_size": 8, "talking_optional": False, "newcomer_support": False}


@pytest.fixture
async def organiser_key(api: Client, admin_headers: dict[str, str]) -> str:
    _, key = await create_organiser(api, admin_headers, name="Calm Circles Collective")
    return key


def fields_named(response: Any) -> set[str]:
    return {e["field"] for e in response.json().get("errors", [])}


async def test_first_visit_is_kept_as_sent_with_lines_normalised_and_read_back(
    api: Client, organiser_key: str
) -> None:
    created = await post_event(api, organiser_key, first_visit=FIRST_VISIT)
    assert created["first_visit"] == STORED
    read = await api.get(f"/v1/events/{created['id']}")
    assert read.status_code == 200 and read.json()["first_visit"] == STORED

    partial = await post_event(api, organiser_key, first_visit={"what_to_bring": "a pen"})
    assert partial["first_visit"] == {
        "how_to_find": None,
        "greeter": None,
        "what_to_bring": "a pen",
        "leaving_early_ok": None,
    }
    # Saying nothing (or only blanks) is no first_visit at all.
    for empty in ({}, {"greeter": "   ", "how_to_find": ""}):
        assert (await post_event(api, organiser_key, first_visit=empty))["first_visit"] is None
    assert (await post_event(api, organiser_key))["first_visit"] is None


async def test_a_greeter_makes_newcomer_support_true_and_lowers_intensity(
    api: Client, organiser_key: str
) -> None:
    plain = await post_event(api, organiser_key, **PLAIN)
    assert (plain["newcomer_support"], plain["intensity"]) == (False, 2)
    greeted = await post_event(
        api, organiser_key, **PLAIN, first_visit={"greeter": "Ana at the door"}
    )
    assert (greeted["newcomer_support"], greeted["intensity"]) == (True, 1)
    # Other parts alone are not support.
    briefed = await post_event(api, organiser_key, **PLAIN, first_visit={"how_to_find": "room 2"})
    assert (briefed["newcomer_support"], briefed["intensity"]) == (False, 2)

    # Named in a PATCH, the intensity is computed again, and stays so while a greeter is named.
    patched = await api.patch(
        f"/v1/events/{plain['id']}",
        json={"first_visit": {"greeter": "Ana at the door"}},
        headers=bearer(organiser_key),
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["newcomer_support"], body["intensity"]) == (True, 1)
    again = await api.patch(
        f"/v1/events/{plain['id']}",
        json={"newcomer_support": False},
        headers=bearer(organiser_key),
    )
    assert again.status_code == 200
    assert (again.json()["newcomer_support"], again.json()["intensity"]) == (True, 1)
    assert again.json()["sequence"] == body["sequence"], "nothing changed"


async def test_a_change_of_first_visit_bumps_sequence_and_the_same_one_does_not(
    api: Client, organiser_key: str
) -> None:
    event = await post_event(api, organiser_key, first_visit=FIRST_VISIT)
    assert event["sequence"] == 0
    path, headers = f"/v1/events/{event['id']}", bearer(organiser_key)

    same = await api.patch(path, json={"first_visit": FIRST_VISIT}, headers=headers)
    assert same.status_code == 200 and same.json()["sequence"] == 0

    changed = {**FIRST_VISIT, "what_to_bring": "a water bottle"}
    bumped = await api.patch(path, json={"first_visit": changed}, headers=headers)
    assert bumped.status_code == 200
    assert bumped.json()["sequence"] == 1
    assert bumped.json()["first_visit"]["what_to_bring"] == "a water bottle"

    cleared = await api.patch(path, json={"first_visit": None}, headers=headers)
    assert cleared.status_code == 200
    assert cleared.json()["sequence"] == 2 and cleared.json()["first_visit"] is None
    # The greeter went, the support it implied stays until the organiser changes it.
    assert cleared.json()["newcomer_support"] is True


BAD = [
    ({"greeter": "x" * 121}, "first_visit.greeter"),
    ({"how_to_find": "x" * 301}, "first_visit.how_to_find"),
    ({"what_to_bring": "x" * 201}, "first_visit.what_to_bring"),
    ({"greeter": "Sam\x00"}, "first_visit.greeter"),
    ({"how_to_find": "room\x1b[2J 2"}, "first_visit.how_to_find"),
    ({"what_to_bring": "a \u202epen"}, "first_visit.what_to_bring"),
    ({"greeter": "Sam\u2066 at the door"}, "first_visit.greeter"),
    ({"leaving_early_ok": "yes"}, "first_visit.leaving_early_ok"),
    ({"leaving_early_ok": 1}, "first_visit.leaving_early_ok"),
    ({"dress_code": "none"}, "first_visit.dress_code"),
    ("Sam at the door", "first_visit"),
]


@pytest.mark.parametrize(("first_visit", "field"), BAD)
async def test_bad_first_visit_is_422_naming_the_field_and_nothing_is_stored(
    api: Client, pool: asyncpg.Pool, organiser_key: str, first_visit: Any, field: str
) -> None:
    event = await post_event(api, organiser_key, first_visit={"greeter": "Ana"})
    before = await pool.fetchrow("SELECT * FROM events WHERE id = $1", event["id"])

    posted = await api.post(
        "/v1/events", json=event_body(first_visit=first_visit), headers=bearer(organiser_key)
    )
    assert posted.status_code == 422, posted.text
    assert posted.headers["content-type"].startswith("application/problem+json")
    assert field in fields_named(posted), posted.json()
    patched = await api.patch(
        f"/v1/events/{event['id']}",
        json={"first_visit": first_visit},
        headers=bearer(organiser_key),
    )
    assert patched.status_code == 422, patched.text
    assert field in fields_named(patched), patched.json()

    assert await pool.fetchval("SELECT count(*) FROM events") == 1
    assert await pool.fetchrow("SELECT * FROM events WHERE id = $1", event["id"]) == before


async def test_the_limits_themselves_are_accepted(api: Client, organiser_key: str) -> None:
    longest = {"greeter": "g" * 120, "how_to_find": "h" * 300, "what_to_bring": "w" * 200}
    created = await post_event(api, organiser_key, first_visit=longest)
    assert created["first_visit"] == {**longest, "leaving_early_ok": None}


async def test_first_visit_reaches_the_standard_feed_and_the_event_page_through_the_worker(
    api: Client, feed: Client, organiser_key: str, drain_queue: Drain
) -> None:
    profile = await new_profile(
        api, interests={"board-games": 0.9}, home={"lat": 52.52, "lon": 13.405}, radius_km=10
    )
    day = monday(1) + timedelta(days=2)
    briefed = await new_event(
        api,
        organiser_key,
        day,
        first_visit=FIRST_VISIT,
        accessibility=["step_free", "quiet_room"],
    )
    quiet_only = await new_event(
        api, organiser_key, day + timedelta(days=1), accessibility=["quiet_room"]
    )
    silent = await new_event(api, organiser_key, day + timedelta(days=2))
    await drain_queue()

    response = await feed.get(feed_path(profile))
    assert response.status_code == 200
    events = read_everywhere(response.content)["events"]
    description = events[uid(briefed)]["description"]
    assert "First time?\n" + SENTENCES + "\n\nWhy this was suggested: " in description
    assert description.startswith(briefed["description"] + "\n\nFirst time?\n")
    assert "First time?\nThere is a quiet room.\n\n" in events[uid(quiet_only)]["description"]
    assert "First time?" not in events[uid(silent)]["description"]

    page = await api.get(f"/events/{briefed['id']}")
    assert page.status_code == 200
    assert '<h2 id="first-time">First time?</h2>' in page.text
    for sentence in (
        "Sam, in the green scarf, greets newcomers at the door.",
        "What to bring: nothing; tea is on us.",
        "Leaving early is fine.",
        "There is a quiet room.",
    ):
        assert f">{sentence}</li>" in page.text, sentence
    assert "Finding it: side door on Park Lane,\nroom 2, first floor." in page.text
    assert "First time?" not in (await api.get(f"/events/{silent['id']}")).text
