"""Together matches (SPEC "A trusted person"), end to end on the real PostgreSQL, Redis
and worker: an event both of a linked pair match on their own, with an occurrence in the
window free for both, is `together` for both, with `together_bonus` added (capped at 1)
and "you could go together" in the API's explanation only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from litestar.testing import AsyncTestClient

from tests.factories import bearer, create_organiser, post_event
from tests.feed_parsers import parse_with_ical, parse_with_icaljs, parse_with_python, require_icaljs
from tests.test_matching_e2e import my_matches, new_profile

Client = AsyncTestClient[Any]
Drain = Callable[[], Awaitable[int]]


@pytest.fixture
async def key(api: Client, admin_headers: dict[str, str]) -> str:
    return (await create_organiser(api, admin_headers))[1]


async def link(api: Client, first: dict[str, Any], second: dict[str, Any]) -> None:
    invite = await api.post("/v1/me/buddy/invite", headers=bearer(first["token"]))
    assert invite.status_code == 201, invite.text
    linked = await api.post(
        "/v1/me/buddy", json={"code": invite.json()["code"]}, headers=bearer(second["token"])
    )
    assert linked.status_code == 200, linked.text


def by_event(page: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {m["event"]["id"]: m for m in page["items"]}


def next_weekday(weekday: int) -> date:
    today = date.today()
    return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)


async def test_together_needs_both_to_match_on_their_own(
    api: Client, feed: Client, key: str, drain_queue: Drain
) -> None:
    soon = next_weekday(2)  # in the feed's window (an event in 2030 is not yet)
    when = {"starts_at": f"{soon.isoformat()}T19:00:00", "ends_at": f"{soon.isoformat()}T21:00:00"}
    both = await post_event(api, key, tags=["board-games"], **when)
    only_one = await post_event(api, key, tags=["walking"], title="A walk", **when)
    later = await post_event(api, key, tags=["board-games"], title="Next year")  # 2030
    ada = await new_profile(api, interests={"board-games": 0.9, "walking": 0.5})
    bo = await new_profile(api, interests={"board-games": 0.6})
    await drain_queue()
    alone = by_event(await my_matches(api, ada))
    assert not any(m["together"] for m in alone.values())

    await link(api, ada, bo)
    mine, theirs = by_event(await my_matches(api, ada)), by_event(await my_matches(api, bo))
    assert mine[both["id"]]["together"] and theirs[both["id"]]["together"]
    assert not mine[only_one["id"]]["together"] and only_one["id"] not in theirs
    # Both match it, but no occurrence is in the window yet.
    assert not mine[later["id"]]["together"] and not theirs[later["id"]]["together"]
    for page, before in ((mine, alone[both["id"]]["score"]), (theirs, None)):
        assert page[both["id"]]["explanation"].endswith(" · you could go together")
        if before is not None:  # the bonus (0.1 by default), capped at 1
            assert page[both["id"]]["score"] == pytest.approx(min(1.0, before + 0.1), abs=1e-4)
    assert not mine[only_one["id"]]["explanation"].endswith("together")
    # The feed carries the together event (its rank has the bonus) and says nothing of it,
    # as every parser the suite uses reads it.
    ics = (await feed.get(urlparse(ada["feed_url"]).path)).content
    assert b"together" not in ics
    start = datetime.now(UTC) - timedelta(days=7)
    end = start + timedelta(weeks=13)
    require_icaljs()
    readings = [
        parse(ics, start, end) for parse in (parse_with_python, parse_with_ical, parse_with_icaljs)
    ]
    uid = f"event-{both['id']}@lowkey"
    assert all(uid in r["events"] for r in readings)
    assert len({tuple(r["events"][uid]["occurrences"]) for r in readings}) == 1
    assert readings[0]["events"][uid]["occurrences"]
    export = (await api.get("/v1/me/export", headers=bearer(ada["token"]))).json()
    assert [m["together"] for m in export["matches"] if m["event_id"] == both["id"]] == [True]

    # Unlinked: no longer together.
    assert (await api.delete("/v1/me/buddy", headers=bearer(bo["token"]))).status_code == 204
    assert not any(m["together"] for m in (await my_matches(api, ada))["items"])


async def test_a_pair_free_on_different_days_of_a_series_is_not_together(
    api: Client, key: str, drain_queue: Drain
) -> None:
    monday = next_weekday(0)
    series = await post_event(
        api,
        key,
        starts_at=f"{monday.isoformat()}T19:00:00",
        ends_at=f"{monday.isoformat()}T21:00:00",
        recurrence="FREQ=WEEKLY;BYDAY=MO,TH",
    )
    evenings = {"from": "18:00", "to": "22:00"}
    mondays = await new_profile(api, availability=[{"days": ["mon"], **evenings}])
    thursdays = await new_profile(api, availability=[{"days": ["thu"], **evenings}])
    anyday = await new_profile(api, availability=[{"days": ["mon", "thu"], **evenings}])
    await drain_queue()
    # Each matches on their own (an occurrence of theirs is free)...
    for user in (mondays, thursdays, anyday):
        assert series["id"] in by_event(await my_matches(api, user))
    # ...but Mondays and Thursdays never meet: not together.
    await link(api, mondays, thursdays)
    assert not by_event(await my_matches(api, mondays))[series["id"]]["together"]
    await api.delete("/v1/me/buddy", headers=bearer(mondays["token"]))
    await link(api, mondays, anyday)
    assert by_event(await my_matches(api, mondays))[series["id"]]["together"]
