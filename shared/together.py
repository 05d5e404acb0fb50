"""Together matches (SPEC "A trusted person"): an event that both of a linked pair match
on their own, with an occurrence in the feed's window, not ended, that falls in both
users' availability. Decided where matches are read; the readers add `together_bonus`
(shared/db/weighing.py RANKED) and the API says "you could go together"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from shared.db.together import both_match
from shared.occurrences import (
    WeeklyWindow,
    availability_from_wire,
    feed_window,
    minute_of_week,
    window_intervals,
)
from shared.timeutil import Refusal, stored_schedule

TOGETHER_WORDS = "you could go together"


def free_at(windows: Sequence[WeeklyWindow], timezone: str, instant: datetime) -> bool:
    """In one of the windows (no windows: any time)."""
    if not windows:
        return True
    minute = minute_of_week(instant, timezone)
    return any(lo <= minute < hi for w in windows for lo, hi in window_intervals(w))


def together_ids(rows: Sequence[Any], now: datetime) -> list[int]:
    """Of `both_match` rows, the events with an occurrence free for both."""
    found = []
    for r in rows:
        schedule = stored_schedule(
            r["id"], r["starts_at"], r["ends_at"], r["timezone"], r["recurrence"], now
        )
        if isinstance(schedule, Refusal):
            continue
        # As JSON text: the feed's pool decodes no jsonb.
        own = availability_from_wire(msgspec.json.decode(r["own_availability"]))
        theirs = availability_from_wire(msgspec.json.decode(r["buddy_availability"]))
        duration = r["ends_at"] - r["starts_at"]
        window = feed_window(r["own_zone"], now)
        starts = schedule.starts_between(now - duration, window.end)
        if any(
            start + duration > now
            and free_at(own, r["own_zone"], start)
            and free_at(theirs, r["buddy_zone"], start)
            for start in starts
        ):
            found.append(r["id"])
    return sorted(found)


async def together_events(
    conn: asyncpg.Connection | asyncpg.Pool, profile_id: int, now: datetime
) -> list[int]:
    """The profile's together matches now (empty without a buddy)."""
    return together_ids(await both_match(conn, profile_id), now)
