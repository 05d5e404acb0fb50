"""SQL for check-ins (migration 0019): the record that an event was a match at an
occurrence's start, the answers, the comfort changes and stretch pauses they caused, and
the profile columns those rules read and move.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from shared.checkins import Answer, LevelChange, Pause
from shared.db.weighing import ACTIVE_WEIGHTS, IS_MATCH, WEIGHED
from shared.models.checkins import Checkin, ComfortChange

# -- the record of matches at an occurrence's start (the worker's cron) ---------------

INIT_RECORDER = """
INSERT INTO occurrence_recorder (recorded_until) VALUES ($1) ON CONFLICT DO NOTHING
"""
CLAIM_RECORDER = "SELECT recorded_until FROM occurrence_recorder FOR UPDATE"
SET_RECORDER = "UPDATE occurrence_recorder SET recorded_until = $1"
# Events with matches that may have an occurrence starting in [$1, $2): a one-off whose
# start lies there, or a series begun and not over before $1.
MATCHED_EVENTS_STARTING = """
SELECT e.id, e.starts_at, e.ends_at, e.timezone, e.recurrence FROM events e
WHERE e.status = 'scheduled' AND e.starts_at_utc < $2
  AND (e.over_at IS NULL OR e.over_at > $1)
  AND (e.recurrence IS NOT NULL OR e.starts_at_utc >= $1)
  AND EXISTS (SELECT 1 FROM matches m WHERE m.event_id = e.id)
ORDER BY e.id
"""
# A match at the start: a stored pair the active weights make a match then.
RECORD_OCCURRENCES = f"""
WITH {ACTIVE_WEIGHTS}
INSERT INTO match_occurrences
    (profile_id, event_id, starts_at, starts_at_utc, ends_at_utc, intensity, comfort_level)
SELECT m.profile_id, e.id, o.local_start, o.utc_start, o.utc_end, e.intensity, p.comfort_level
FROM unnest($1::bigint[], $2::timestamp[], $3::timestamptz[], $4::timestamptz[])
    AS o(event_id, local_start, utc_start, utc_end)
JOIN events e ON e.id = o.event_id
JOIN matches m ON m.event_id = o.event_id
{WEIGHED}
JOIN profiles p ON p.id = m.profile_id
WHERE {IS_MATCH} AND NOT EXISTS (
    SELECT 1 FROM hidden_events h WHERE h.profile_id = m.profile_id AND h.event_id = e.id
)
ON CONFLICT DO NOTHING
"""  # noqa: S608 (constant text)
PURGE_OCCURRENCES = "DELETE FROM match_occurrences WHERE ends_at_utc < $1"
SELECT_RECORD = """
SELECT intensity, comfort_level FROM match_occurrences
WHERE profile_id = $1 AND event_id = $2 AND starts_at = $3
"""
END_DUE_PAUSES = """
UPDATE profiles SET stretch_paused_until = NULL
WHERE stretch_paused_until IS NOT NULL AND stretch_paused_until <= $1
RETURNING id
"""

# -- answers and what they move -----------------------------------------------------

SELECT_EVENT_TIMES = """
SELECT id, starts_at, ends_at, timezone, recurrence FROM events WHERE id = $1
"""
LOCK_STATE = """
SELECT comfort_level, adapt_comfort, comfort_count_from FROM profiles
WHERE id = $1 FOR NO KEY UPDATE
"""
SELECT_ANSWER = """
SELECT id, answer FROM checkins WHERE profile_id = $1 AND event_id = $2 AND occurrence = $3
FOR UPDATE
"""
INSERT_ANSWER = """
INSERT INTO checkins
    (profile_id, event_id, occurrence, occurrence_utc, answer, intensity, comfort_level)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id
"""
REPLACE_ANSWER = "UPDATE checkins SET answer = $2, answered_at = now() WHERE id = $1"
COUNTED_ANSWERS = """
SELECT id, answer, intensity, comfort_level, occurrence_utc FROM checkins
WHERE profile_id = $1 AND occurrence_utc > $2 AND answer <> 'didnt_go'
ORDER BY occurrence_utc, id
"""
SET_LEVEL = """
UPDATE profiles SET comfort_level = $2, comfort_count_from = now(), updated_at = now()
WHERE id = $1
"""
SET_PAUSE = """
UPDATE profiles SET stretch_paused_until = greatest(stretch_paused_until, $2) WHERE id = $1
"""
INSERT_CHANGE = """
INSERT INTO comfort_changes
    (profile_id, kind, from_level, to_level, reason, checkin_ids, pause_ends_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
RESTART_COUNT = "UPDATE profiles SET comfort_count_from = now() WHERE id = $1"
# A pause still running ends now: the profile reads open_to_stretch again, and its record
# shows when it really ended.
END_PAUSE = """
WITH ended AS (
    UPDATE comfort_changes SET pause_ends_at = now(), ended_early = true
    WHERE profile_id = $1 AND kind = 'stretch_paused' AND pause_ends_at > now()
)
UPDATE profiles SET stretch_paused_until = NULL
WHERE id = $1 AND stretch_paused_until > now()
RETURNING id
"""
LIST_CHECKINS = """
SELECT c.id, c.event_id, e.title, c.occurrence, c.occurrence_utc, c.answer, c.intensity,
       c.comfort_level, c.answered_at
FROM checkins c LEFT JOIN events e ON e.id = c.event_id
WHERE c.profile_id = $1
  AND ($2::timestamptz IS NULL OR (c.occurrence_utc, c.id) < ($2::timestamptz, $3::bigint))
ORDER BY c.occurrence_utc DESC, c.id DESC
LIMIT $4
"""
SELECT_CHECKIN = """
SELECT c.id, c.event_id, e.title, c.occurrence, c.answer, c.intensity, c.comfort_level,
       c.answered_at
FROM checkins c LEFT JOIN events e ON e.id = c.event_id WHERE c.id = $1
"""
# Occurrences recorded as matches for the profile that have started and not ended before
# $2 (a bound: shared.checkins decides what may be answered), with the answer given.
RECORDED_OCCURRENCES = """
SELECT e.id, e.starts_at, e.ends_at, e.timezone, e.recurrence, e.title, o.starts_at AS local,
       c.answer
FROM match_occurrences o
JOIN events e ON e.id = o.event_id
LEFT JOIN checkins c
    ON c.profile_id = o.profile_id AND c.event_id = o.event_id AND c.occurrence = o.starts_at
WHERE o.profile_id = $1 AND o.ends_at_utc >= $2 AND o.starts_at_utc <= $3
  AND ($4::bigint IS NULL OR o.event_id = $4)
ORDER BY o.starts_at_utc DESC, o.event_id
LIMIT $5
"""
LIST_CHANGES = """
SELECT id, kind, from_level, to_level, reason, checkin_ids, pause_ends_at, ended_early,
       created_at
FROM comfort_changes WHERE profile_id = $1 ORDER BY id DESC
"""


class EventTimes(NamedTuple):
    id: int
    starts_at: datetime
    ends_at: datetime
    timezone: str
    recurrence: str | None


class RecordedOccurrence(NamedTuple):
    event: EventTimes
    title: str
    local_start: datetime  # naive, in the event's zone: the check-in's `occurrence`
    answer: str | None  # the answer given, if any


class ProfileState(NamedTuple):
    comfort_level: int
    adapt_comfort: bool
    count_from: datetime


async def claim_recorder(conn: asyncpg.Connection, first_since: datetime) -> datetime:
    """In a transaction: lock the recorder's row and answer up to when starts are recorded
    (`first_since` when it never ran)."""
    await conn.execute(INIT_RECORDER, first_since)
    since: datetime = await conn.fetchval(CLAIM_RECORDER)
    return since


async def set_recorder(conn: asyncpg.Connection, until: datetime) -> None:
    await conn.execute(SET_RECORDER, until)


async def matched_events_starting(
    conn: asyncpg.Connection, since: datetime, until: datetime
) -> list[EventTimes]:
    rows = await conn.fetch(MATCHED_EVENTS_STARTING, since, until)
    return [EventTimes(*r) for r in rows]


async def record_occurrences(
    conn: asyncpg.Connection, occurrences: Sequence[tuple[int, datetime, datetime, datetime]]
) -> int:
    """Record (event id, local start, UTC start, UTC end) for every profile the event is a
    match for now, with the event's intensity and the profile's comfort level now."""
    if not occurrences:
        return 0
    status: str = await conn.execute(
        RECORD_OCCURRENCES,
        [o[0] for o in occurrences],
        [o[1] for o in occurrences],
        [o[2] for o in occurrences],
        [o[3] for o in occurrences],
    )
    return int(status.rsplit(" ", 1)[1])


RECORDED_PROFILES = """
SELECT profile_id FROM match_occurrences WHERE event_id = $1 AND starts_at = $2
ORDER BY profile_id LIMIT $3
"""


async def recorded_profiles(
    conn: asyncpg.Connection, event_id: int, local_start: datetime, limit: int
) -> list[int]:
    """The profiles (lowest ids first) the occurrence was recorded as a match for."""
    return [
        r["profile_id"] for r in await conn.fetch(RECORDED_PROFILES, event_id, local_start, limit)
    ]


async def purge_occurrences(conn: asyncpg.Connection, ended_before: datetime) -> int:
    status: str = await conn.execute(PURGE_OCCURRENCES, ended_before)
    return int(status.rsplit(" ", 1)[1])


async def end_due_pauses(conn: asyncpg.Connection, now: datetime) -> list[int]:
    """Clear every stretch pause whose end has come; the profiles (to re-score)."""
    return [r["id"] for r in await conn.fetch(END_DUE_PAUSES, now)]


async def event_times(conn: asyncpg.Connection, event_id: int) -> EventTimes | None:
    row = await conn.fetchrow(SELECT_EVENT_TIMES, event_id)
    return None if row is None else EventTimes(*row)


async def match_record(
    conn: asyncpg.Connection, profile_id: int, event_id: int, local_start: datetime
) -> tuple[int, int] | None:
    """(intensity, comfort level) at the occurrence's start, if it was a match then."""
    row = await conn.fetchrow(SELECT_RECORD, profile_id, event_id, local_start)
    return None if row is None else (row["intensity"], row["comfort_level"])


async def recorded_occurrences(
    conn: asyncpg.Connection,
    profile_id: int,
    ended_after: datetime,
    started_by: datetime,
    event_id: int | None = None,
    limit: int = 50,
) -> list[RecordedOccurrence]:
    """The profile's recorded occurrences (of one event, or all) that started by
    `started_by` and end after `ended_after`, newest first, with the answer given."""
    rows = await conn.fetch(
        RECORDED_OCCURRENCES, profile_id, ended_after, started_by, event_id, limit
    )
    return [
        RecordedOccurrence(EventTimes(*r[:5]), r["title"], r["local"], r["answer"]) for r in rows
    ]


async def lock_state(conn: asyncpg.Connection, profile_id: int) -> ProfileState | None:
    row = await conn.fetchrow(LOCK_STATE, profile_id)
    return None if row is None else ProfileState(*row)


async def save_answer(
    conn: asyncpg.Connection,
    profile_id: int,
    event_id: int,
    local_start: datetime,
    utc_start: datetime,
    answer: str,
    record: tuple[int, int],
) -> tuple[int, str | None]:
    """Insert or replace the answer about one occurrence: (its id, the previous answer or
    None when it is new)."""
    found = await conn.fetchrow(SELECT_ANSWER, profile_id, event_id, local_start)
    if found is not None:
        await conn.execute(REPLACE_ANSWER, found["id"], answer)
        return int(found["id"]), str(found["answer"])
    new_id: int = await conn.fetchval(
        INSERT_ANSWER, profile_id, event_id, local_start, utc_start, answer, *record
    )
    return new_id, None


async def counted_answers(
    conn: asyncpg.Connection, profile_id: int, count_from: datetime
) -> list[Answer]:
    rows = await conn.fetch(COUNTED_ANSWERS, profile_id, count_from)
    return [Answer(*r) for r in rows]


async def apply_pause(conn: asyncpg.Connection, profile_id: int, level: int, pause: Pause) -> None:
    await conn.execute(SET_PAUSE, profile_id, pause.until)
    await conn.execute(
        INSERT_CHANGE,
        profile_id,
        "stretch_paused",
        level,
        level,
        pause.reason,
        list(pause.checkin_ids),
        pause.until,
    )


async def apply_level(
    conn: asyncpg.Connection, profile_id: int, level: int, change: LevelChange
) -> None:
    """Move the comfort level (the count starts again) and record why."""
    await conn.execute(SET_LEVEL, profile_id, change.to_level)
    await conn.execute(
        INSERT_CHANGE,
        profile_id,
        change.kind,
        level,
        change.to_level,
        change.reason,
        list(change.checkin_ids),
        None,
    )


async def restart_count(conn: asyncpg.Connection, profile_id: int) -> None:
    await conn.execute(RESTART_COUNT, profile_id)


async def end_pause(conn: asyncpg.Connection, profile_id: int) -> bool:
    """End a running stretch pause now; False when none was running."""
    return await conn.fetchval(END_PAUSE, profile_id) is not None


def _checkin(r: asyncpg.Record) -> Checkin:
    return Checkin(
        id=r["id"],
        event_id=r["event_id"],
        title=r["title"],
        occurrence=r["occurrence"].isoformat(),
        answer=r["answer"],
        intensity=r["intensity"],
        comfort_level=r["comfort_level"],
        answered_at=r["answered_at"],
    )


async def list_checkins(
    conn: asyncpg.Connection,
    profile_id: int,
    after: tuple[datetime, int] | None = None,
    limit: int = 2**31 - 1,
) -> list[tuple[Checkin, datetime]]:
    """The profile's check-ins, newest occurrence first: (check-in, its UTC start)."""
    at, last_id = after if after is not None else (None, None)
    rows = await conn.fetch(LIST_CHECKINS, profile_id, at, last_id, limit)
    return [(_checkin(r), r["occurrence_utc"]) for r in rows]


async def read_checkin(conn: asyncpg.Connection, checkin_id: int) -> Checkin:
    row = await conn.fetchrow(SELECT_CHECKIN, checkin_id)
    return _checkin(row)


async def comfort_changes(conn: asyncpg.Connection, profile_id: int) -> list[ComfortChange]:
    """Every change of level and stretch pause, newest first."""
    rows = await conn.fetch(LIST_CHANGES, profile_id)
    return [_change(r) for r in rows]


def _change(r: asyncpg.Record) -> ComfortChange:
    data: dict[str, Any] = dict(r)
    data["checkins"] = list(data.pop("checkin_ids"))
    return ComfortChange(**data)
