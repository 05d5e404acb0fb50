"""What the pages show of check-ins: the occurrences a person may answer now (those the
JSON API would take, by shared.checkins' own rules) and the answers already given.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from shared import checkins as rules
from shared.db import checkins as db

# Answers listed on /me besides the open ones: the most recent, enough to look back on.
EARLIER_SHOWN = 20


class OpenCheckin(msgspec.Struct, frozen=True, kw_only=True):
    """One ended occurrence the person may say something about, with what they said."""

    event_id: int
    title: str
    local_start: datetime  # naive, in the event's zone
    answer: str | None

    @property
    def occurrence(self) -> str:
        """The occurrence as POST /v1/me/checkins names it (its local start)."""
        return self.local_start.isoformat()


class GivenCheckin(msgspec.Struct, frozen=True, kw_only=True):
    title: str | None  # None once the organiser deleted the event
    local_start: datetime
    answer: str


class CheckinsView(msgspec.Struct, frozen=True, kw_only=True):
    open: list[OpenCheckin]  # newest first
    earlier: list[GivenCheckin]  # answers that can no longer be changed, newest first


async def open_checkins(
    conn: asyncpg.Connection, profile_id: int, now: datetime, event_id: int | None = None
) -> list[OpenCheckin]:
    """The recorded occurrences (of one event, or all) an answer may be given about now,
    newest first: recorded as a match at their start, and what `rules.answerable` says
    about the event's own schedule (the checks POST /v1/me/checkins makes)."""
    rows = await db.recorded_occurrences(
        conn, profile_id, now - rules.ANSWER_WINDOW, now, event_id=event_id
    )
    return [
        OpenCheckin(
            event_id=row.event.id, title=row.title, local_start=row.local_start, answer=row.answer
        )
        for row in rows
        if rules.answerable(rules.occurrence_of(*row.event, row.local_start, now), now)
    ]


async def checkins_of(conn: asyncpg.Connection, profile_id: int, now: datetime) -> CheckinsView:
    """/me's check-ins: the open ones, then the latest answers no longer open."""
    still_open = await open_checkins(conn, profile_id, now)
    keys = {(c.event_id, c.local_start) for c in still_open}
    given = await db.list_checkins(conn, profile_id, limit=EARLIER_SHOWN + len(keys))
    earlier = [
        GivenCheckin(
            title=c.title,
            local_start=datetime.fromisoformat(c.occurrence),
            answer=c.answer,
        )
        for c, _ in given
        if (c.event_id, datetime.fromisoformat(c.occurrence)) not in keys
    ]
    return CheckinsView(open=still_open, earlier=earlier[:EARLIER_SHOWN])
