"""When a match happens for its user: an event's occurrences (and whether it is over), the
user's weekly availability windows as minutes of the week, the starts availability is
judged on, the weeks a feed shows and the weekly cap over them. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import msgspec

from shared.timeutil import Refusal, Schedule, stored_schedule

if TYPE_CHECKING:  # types only: shared.scoring imports this module
    from shared.scoring import ScoringEvent, ScoringProfile

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_WEEK = 7 * 24 * 60
CAP_WEEKS = 12  # the feed shows this many calendar weeks, from the current one


class WeeklyWindow(msgspec.Struct, frozen=True):
    """A profile's availability window as scoring reads it (the API's is
    `shared.models.profiles.AvailabilityWindow`): days and a [from, to) wall-clock window
    in the profile's time zone.

    `to` at or before `from` means the window runs past midnight into the next day.
    """

    days: tuple[str, ...]
    start: time = msgspec.field(name="from")
    end: time = msgspec.field(name="to")


def availability_from_wire(windows: Sequence[dict[str, object]]) -> tuple[WeeklyWindow, ...]:
    """Wire windows ({"days": [...], "from": "17:00", "to": "22:00"}; "24:00" is midnight)."""

    return tuple(
        WeeklyWindow(
            tuple(map(str, w["days"])),  # type: ignore[call-overload]
            _wall_clock(str(w["from"])),
            _wall_clock(str(w["to"])),
        )
        for w in windows
    )


@lru_cache(maxsize=4096)
def _wall_clock(text: str) -> time:
    """A window bound; a few dozen distinct values serve every profile (a full re-score
    reads tens of thousands of windows)."""
    return time(0) if text in ("24:00", "24:00:00") else time.fromisoformat(text)


class FeedWindow(msgspec.Struct, frozen=True):
    """The weeks a feed shows: from Monday 00:00 of the current week in the profile's zone
    to the Monday `CAP_WEEKS` weeks later (exclusive); both aware, in that zone."""

    start: datetime
    end: datetime


class CappedMatch(msgspec.Struct, frozen=True, kw_only=True):
    """A match as the feed shows it. Local times are naive wall-clock times in the event's
    zone (as DTSTART;TZID= and EXDATE;TZID= want them).

    `starts_at` is the first occurrence the feed shows (a series' DTSTART), `shown` the
    aware starts of every occurrence it shows. A series also has `until`, the UTC instant
    its rule ends at in the feed (the earlier of its own end and the window's, in place of
    any COUNT), and `exdates`, its occurrences after `starts_at` that the feed leaves out
    (they miss the cap, or fall outside the user's availability).
    """

    event_id: int
    starts_at: datetime
    shown: tuple[datetime, ...]
    until: datetime | None = None
    exdates: tuple[datetime, ...] = ()


def is_over(event: ScoringEvent, now: datetime) -> bool:
    """Over when its (last) occurrence has ended, or when its stored times or rule break
    today's bounds (a row saved before they existed): such an event is never matched."""
    if event.over_at is not None and event.over_at <= now:
        return True
    return isinstance(_schedule(event, now), Refusal)


def occurrence_starts(
    event: ScoringEvent, after: datetime, before: datetime, *, now: datetime | None = None
) -> list[datetime]:
    """Aware starts of the occurrences that start in [after, before), computed on local
    wall-clock times in the event's zone (a weekly 19:00 stays 19:00 across DST); none
    for an event whose stored rule is refused. Bounded (shared.recurrence.MAX_SPAN and
    MAX_OCCURRENCES); `now` (the clock's by default) dates the rule check."""
    found = _schedule(event, now or datetime.now(UTC))
    return [] if isinstance(found, Refusal) else found.starts_between(after, before)


def next_occurrence_start(event: ScoringEvent, now: datetime) -> datetime | None:
    """Start of the first occurrence that has not ended yet (upcoming or under way)."""
    found = _schedule(event, now)
    return None if isinstance(found, Refusal) else found.next_start(now)


def _schedule(event: ScoringEvent, now: datetime) -> Schedule | Refusal:
    return stored_schedule(
        event.id, event.starts_at, event.ends_at, event.timezone, event.recurrence, now
    )


def minute_of_week(instant: datetime, tz_name: str) -> int:
    """Minutes since Monday 00:00 of an instant's wall-clock time in a zone."""
    local = instant.astimezone(ZoneInfo(tz_name))
    return (local.weekday() * 24 + local.hour) * 60 + local.minute


def window_intervals(window: WeeklyWindow) -> list[tuple[int, int]]:
    """A window as [start, end) minute-of-week intervals, wrapped at the week's end."""
    start = window.start.hour * 60 + window.start.minute
    end = window.end.hour * 60 + window.end.minute
    length = end - start if end > start else end - start + 24 * 60
    intervals = []
    for day in window.days:
        lo = WEEKDAYS.index(day) * 24 * 60 + start
        hi = lo + length
        if hi <= MINUTES_PER_WEEK:
            intervals.append((lo, hi))
        else:
            intervals += [(lo, MINUTES_PER_WEEK), (0, hi - MINUTES_PER_WEEK)]
    return intervals


def availability_starts(event: ScoringEvent, timezone: str, now: datetime) -> list[datetime]:
    """The starts a profile in `timezone` has its availability judged on (SPEC "Matching"):
    a series' occurrences in that profile's feed window that have not ended, re-checked as
    the window moves; a one-off's start. A series with none in the window (it begins
    later) is judged on its next occurrence, as a one-off would be, so it is listed among
    the matches before its weeks come into the feed."""
    when = (event.id, event.starts_at, event.ends_at, event.timezone, event.recurrence)
    return list(_availability_starts(when, timezone, now))


def availability_starts_by_zone(
    event: ScoringEvent, timezones: Sequence[str], now: datetime
) -> list[list[datetime]]:
    """`availability_starts` for each of `timezones`, the occurrences computed once."""
    when = (event.id, event.starts_at, event.ends_at, event.timezone, event.recurrence)
    return _starts_by_zone(when, timezones, now)


_When = tuple[int, datetime, datetime, str, "str | None"]  # id, local times, zone, rule


# A job judges one event for many profiles (or one profile's zone for many events) at one
# `now`: the occurrences are computed once per event and zone, not once per pair.
@lru_cache(maxsize=4096)
def _availability_starts(when: _When, timezone: str, now: datetime) -> tuple[datetime, ...]:
    return tuple(_starts_by_zone(when, [timezone], now)[0])


def _starts_by_zone(when: _When, timezones: Sequence[str], now: datetime) -> list[list[datetime]]:
    event_id, starts_at, ends_at, event_timezone, recurrence = when
    found = stored_schedule(event_id, starts_at, ends_at, event_timezone, recurrence, now)
    if isinstance(found, Refusal):
        return [[] for _ in timezones]
    upcoming: list[datetime] = []
    ends = [feed_window(tz, now).end for tz in timezones]
    if recurrence and ends:
        duration = ends_at - starts_at
        starts = found.starts_between(now - duration, max(ends))
        upcoming = [start for start in starts if start + duration > now]
    by_zone = [[start for start in upcoming if start < end] for end in ends]
    if all(by_zone):
        return by_zone
    start = found.next_start(now)
    return [got or ([] if start is None else [start]) for got in by_zone]


def available_at(profile: ScoringProfile, instant: datetime) -> bool:
    # Window edges are whole minutes, so the minute an instant falls in decides [from, to).
    minute = minute_of_week(instant, profile.timezone)
    return any(lo <= minute < hi for w in profile.availability for lo, hi in window_intervals(w))


def feed_window(timezone: str, now: datetime, weeks: int = CAP_WEEKS) -> FeedWindow:
    """The `weeks` weeks a feed shows at `now`, from the Monday of the current week."""
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    return FeedWindow(
        start=datetime.combine(monday, time(0), tzinfo=tz),
        end=datetime.combine(monday + timedelta(weeks=weeks), time(0), tzinfo=tz),
    )


def weekly_cap(
    profile: ScoringProfile,
    matches: Sequence[tuple[ScoringEvent, float]],
    *,
    now: datetime,
    weeks: int = CAP_WEEKS,
) -> list[CappedMatch]:
    """Per calendar week (Monday to Sunday in the profile's zone) of the feed's window, keep
    the `max_events_per_week` best matches; the result is best first, and nothing in it
    lies outside the window, so no week a calendar app shows holds more.

    A series takes one slot in each week it occurs (however often it occurs that week);
    an occurrence outside the user's availability takes none and is left out. A match that
    makes the cap in no week is not in the feed, nor is one with no occurrence in the
    window. Every occurrence of the current week counts, those already over too, and a
    cancelled event counts in its place: the slots they hold stay theirs. `now` only
    chooses the week, so a render is the same all week. Ties go to the lower event id.
    """
    window = feed_window(profile.timezone, now, weeks)
    monday = window.start.date()
    week_zone = window.start.tzinfo
    # UNTIL is inclusive and the window's end is not.
    window_until = (window.end - timedelta(seconds=1)).astimezone(UTC)
    taken: dict[int, int] = {}
    full = 0  # weeks holding their most
    kept: list[CappedMatch] = []
    today = datetime.now(UTC).date()  # dates the rule check, as occurrence_starts does
    for event, _ in sorted(matches, key=lambda m: (-m[1], m[0].id)):
        if full == weeks:
            break  # no later match can win a slot: its occurrences need not be computed
        when = (event.id, event.starts_at, event.ends_at, event.timezone, event.recurrence)
        starts = list(_starts_in_window(when, window.start, window.end, today))
        by_week: dict[int, list[datetime]] = {}
        for start in starts:
            if not profile.availability or available_at(profile, start):
                week = (start.astimezone(week_zone).date() - monday).days // 7
                by_week.setdefault(week, []).append(start)
        won = [week for week in by_week if taken.get(week, 0) < profile.max_events_per_week]
        for week in won:
            taken[week] = taken.get(week, 0) + 1
            full += taken[week] == profile.max_events_per_week
        shown = sorted(start for week in won for start in by_week[week])
        if shown:
            kept.append(_as_shown(event, starts, shown, window_until))
    return kept


# A series is in the feed of everyone it matches, and everyone in one zone has the same
# window all week: its occurrences there are computed once, not once per feed. At most 84
# starts each (7 a week), so the cache stays within a few MB.
@lru_cache(maxsize=4096)
def _starts_in_window(
    when: _When, after: datetime, before: datetime, today: date
) -> tuple[datetime, ...]:
    event_id, starts_at, ends_at, event_timezone, recurrence = when
    checked_at = datetime.combine(today, time(0), tzinfo=UTC)
    found = stored_schedule(event_id, starts_at, ends_at, event_timezone, recurrence, checked_at)
    return () if isinstance(found, Refusal) else tuple(found.starts_between(after, before))


def _as_shown(
    event: ScoringEvent, starts: list[datetime], shown: list[datetime], window_until: datetime
) -> CappedMatch:
    """A kept match: its first shown occurrence, and for a series its feed UNTIL and the
    occurrences between the two that are left out."""
    tz = ZoneInfo(event.timezone)

    def local(start: datetime) -> datetime:
        return start.astimezone(tz).replace(tzinfo=None, fold=0)

    first = shown[0]
    if not event.recurrence:
        return CappedMatch(event_id=event.id, starts_at=local(first), shown=tuple(shown))
    last = starts[-1]
    # Nothing after its last occurrence in the window: the series' own end comes first.
    ends_in_window = next_occurrence_start(event, last + (event.ends_at - event.starts_at)) is None
    visible = set(shown)
    return CappedMatch(
        event_id=event.id,
        starts_at=local(first),
        shown=tuple(shown),
        until=last.astimezone(UTC) if ends_in_window else window_until,
        exdates=tuple(local(s) for s in starts if s > first and s not in visible),
    )
