"""A person's suggestions as their feed shows them, week by week: the feed's matched rows
through shared.occurrences.weekly_cap, called as the feed's render calls it (over the window
that starts this week, with the person's availability), then each occurrence the cap
shows placed in its week. Pure: rows in, weeks out.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec

from shared.db.feeds import FeedRow
from shared.occurrences import WeeklyWindow, feed_window, weekly_cap
from shared.scoring import ScoringEvent, ScoringProfile


class Suggestion(msgspec.Struct, frozen=True, kw_only=True):
    row: FeedRow
    starts: datetime  # aware, in the event's own zone
    ends: datetime
    cancelled: bool


class Week(msgspec.Struct, frozen=True, kw_only=True):
    monday: date  # in the person's zone
    suggestions: list[Suggestion]


def cap_profile(
    timezone: str, max_events_per_week: int, availability: tuple[WeeklyWindow, ...]
) -> ScoringProfile:
    """weekly_cap reads only the zone, the cap and availability; neutral values stand in
    for the rest, as in the feed's render."""
    return ScoringProfile(
        id=0,
        home_lat=0.0,
        home_lon=0.0,
        radius_km=1.0,
        interests={},
        comfort_level=5,
        timezone=timezone,
        max_events_per_week=max_events_per_week,
        availability=availability,
    )


def scoring_event(row: FeedRow) -> ScoringEvent:
    return ScoringEvent(
        id=row.event_id,
        format=row.format,
        lat=row.lat,
        lon=row.lon,
        tags=tuple(row.tags),
        intensity=row.intensity,
        group_size=row.group_size,
        structure=row.structure,
        noise=row.noise,
        talking_optional=row.talking_optional,
        newcomer_support=row.newcomer_support,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        timezone=row.timezone,
        recurrence=row.recurrence,
        over_at=row.over_at,
        status=row.status,
    )


def weekly_suggestions(
    rows: Sequence[FeedRow],
    *,
    timezone: str,
    max_events_per_week: int,
    availability: tuple[WeeklyWindow, ...],
    now: datetime,
    hidden: Collection[int] = (),
) -> list[Week]:
    """The weeks of the feed's window that hold a suggestion not yet ended at `now`, each
    with its occurrences in time order. The cap is taken as the feed takes it (over the
    window that starts this week); `hidden` events are left out at once (the worker drops
    their matches soon after, and the feed's cap is then taken without them, as here)."""
    zone = ZoneInfo(timezone)
    window = feed_window(timezone, now)
    kept_rows = [row for row in rows if row.event_id not in hidden]
    events = {row.event_id: scoring_event(row) for row in kept_rows}
    capped = weekly_cap(
        cap_profile(timezone, max_events_per_week, availability),
        [(events[row.event_id], row.score) for row in kept_rows],
        now=window.start,
    )
    monday = window.start.date()
    by_id = {row.event_id: row for row in kept_rows}
    weeks: dict[int, list[Suggestion]] = {}
    for match in capped:
        event = events[match.event_id]
        event_zone = ZoneInfo(event.timezone)
        duration = event.ends_at - event.starts_at
        for start in match.shown:
            if start + duration <= now:
                continue
            week = (start.astimezone(zone).date() - monday).days // 7
            weeks.setdefault(week, []).append(
                Suggestion(
                    row=by_id[match.event_id],
                    starts=start.astimezone(event_zone),
                    ends=(start + duration).astimezone(event_zone),
                    cancelled=event.status != "scheduled",
                )
            )
    return [
        Week(
            monday=monday + timedelta(weeks=week),
            suggestions=sorted(items, key=lambda s: (s.starts, s.row.event_id)),
        )
        for week, items in sorted(weeks.items())
    ]
