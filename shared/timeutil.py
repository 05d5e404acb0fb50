"""Event times: local wall-clock times in an IANA zone, their bounds (1970 to 10 years
ahead), and an event's schedule: its occurrences and when it is over. The rule itself is
shared.recurrence's. Pure functions; errors are ValueErrors with the reason.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from cachetools import LRUCache

from shared import recurrence
from shared.models.codes import is_iana_zone
from shared.recurrence import YEARS_AHEAD, Series, years_ahead

log = logging.getLogger("lowkey.timeutil")

# What the API accepts as a local time: no offset, no `Z`, seconds optional.
LOCAL_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$"
_LOCAL_TIME = re.compile(LOCAL_TIME_PATTERN)
_OFFSET = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$", re.IGNORECASE)
EARLIEST = datetime(1970, 1, 1)  # the SPEC's first moment an event may name (local)


def zone(name: str) -> ZoneInfo:
    """The IANA zone of that name, or ValueError."""
    if not is_iana_zone(name):
        raise ValueError(f"{name!r} is not an IANA time zone name (e.g. Europe/Berlin)")
    return ZoneInfo(name)


def parse_local(value: str) -> datetime:
    """A naive wall-clock datetime from `2026-12-01T19:00[:00]`; an offset is refused."""
    if not _LOCAL_TIME.match(value):
        if "T" in value and _OFFSET.search(value):
            raise ValueError("must be a local wall-clock time without an offset")
        raise ValueError("must be a local time like 2026-12-01T19:00:00")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a real calendar date/time") from None


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The instant of a naive local time in `tz`; the autumn fold means its first
    occurrence (fold=0); a time in the spring-forward gap raises ValueError."""
    aware = local.replace(tzinfo=tz, fold=0)
    try:
        utc = aware.astimezone(UTC)
    except OverflowError:
        raise ValueError("lies outside the calendar lowkey can handle") from None
    if utc.astimezone(tz).replace(tzinfo=None) != local:
        raise ValueError(f"does not exist in {tz.key} (it falls in a daylight-saving gap)")
    return utc


def check_bounds(local: datetime, tz: ZoneInfo, *, now: datetime) -> None:
    """ValueError unless the naive local time lies between 1970 and 10 years ahead (by
    the local date), checked before any conversion that could overflow."""
    latest = years_ahead(now.astimezone(tz)).date()
    if local < EARLIEST:
        raise ValueError("must be in 1970 or later")
    if local.date() > latest:
        raise ValueError(f"must be at most {YEARS_AHEAD} years ahead (on or before {latest})")


class Schedule(NamedTuple):
    """When an event happens: its first start (aware, in its zone), how long each
    occurrence lasts, and its checked series (None for a one-off)."""

    first: datetime
    duration: timedelta
    series: Series | None

    def over_at(self) -> datetime | None:
        """When the event, or its series' last occurrence, ends (UTC); None = never over."""
        last = self.first if self.series is None else self.series.last_start()
        return None if last is None else (last + self.duration).astimezone(UTC)

    def starts_between(self, after: datetime, before: datetime) -> list[datetime]:
        """Starts in [after, before) (bounded: see shared.recurrence)."""
        if self.series is None:
            return [self.first] if after <= self.first < before else []
        return self.series.starts_between(after, before)

    def next_start(self, now: datetime) -> datetime | None:
        """The start of the first occurrence that has not ended at `now`."""
        if self.series is None:
            return self.first if self.first + self.duration > now else None
        # An occurrence under way at `now` started less than `duration` ago.
        return self.series.first_start_after(now - self.duration)


def schedule(
    starts_at: datetime,
    ends_at: datetime,
    tz: ZoneInfo,
    rule: str | None,
    *,
    now: datetime,
) -> Schedule:
    """The checked schedule of an event whose times already passed their own checks;
    ValueError (about `recurrence`) when the rule is refused."""
    series = None if rule is None else recurrence.check(rule, starts_at, tz, now=now)
    return Schedule(starts_at.replace(tzinfo=tz), ends_at - starts_at, series)


# A next start, when it was found, and until when it holds (that occurrence's end).
_KnownStart = tuple[datetime, datetime, datetime]


class Refusal(NamedTuple):
    """Why a stored event fails today's checks (it then counts as over)."""

    field: str
    reason: str


def stored_schedule(
    event_id: int,
    starts_at: datetime,
    ends_at: datetime,
    tz_name: str,
    rule: str | None,
    now: datetime,
) -> Schedule | Refusal:
    """The schedule of a stored event, checked as a new one would be: a row saved before
    the bounds existed may break them, and then the event is over (never matched, never
    in a feed). Cached a day: the checks only get more lenient as time passes."""
    return _stored_schedule(event_id, starts_at, ends_at, tz_name, rule, now.date())


@lru_cache(maxsize=16384)
def _stored_schedule(
    event_id: int,
    starts_at: datetime,
    ends_at: datetime,
    tz_name: str,
    rule: str | None,
    day: date,
) -> Schedule | Refusal:
    # The end of the day: what was accepted at any time that day passes again.
    now = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    field = "timezone"
    try:
        tz = zone(tz_name)
        for name, local in (("starts_at", starts_at), ("ends_at", ends_at)):
            field = name
            check_bounds(local, tz, now=now)
            to_utc(local, tz)
        field = "recurrence"
        return schedule(starts_at, ends_at, tz, rule, now=now)
    except ValueError as exc:
        # Once per event and day: the event's own data, nothing about any profile.
        log.warning(
            "stored event breaks the event rules; it counts as over",
            extra={"event_id": event_id, "field": field, "reason": str(exc)},
        )
        return Refusal(field, str(exc))


def next_start(
    event_id: int,
    starts_at: datetime,
    ends_at: datetime,
    tz_name: str,
    rule: str | None,
    now: datetime,
) -> datetime | None:
    """The start (aware, in the event's zone) of a stored event's first occurrence that
    has not ended at `now`; None once it is over, or when its stored data is refused."""
    when = (event_id, starts_at, ends_at, tz_name, rule)
    with _next_starts_lock:
        known = _next_starts.get(when)
    if known is not None and known[1] <= now < known[2]:
        return known[0]
    found = stored_schedule(event_id, starts_at, ends_at, tz_name, rule, now)
    start = None if isinstance(found, Refusal) else found.next_start(now)
    if start is not None and not isinstance(found, Refusal):
        with _next_starts_lock:
            _next_starts[when] = (start, now, start + found.duration)
    return start


# Every listed event shows its next start, and for a series that began long ago finding it
# walks the rule from its first week. The answer found at one moment holds until that
# occurrence ends (no occurrence not ended then can end before it), so it is kept for
# that span, for the event's times and rule as they are.
_next_starts: LRUCache[tuple[int, datetime, datetime, str, str | None], _KnownStart] = LRUCache(
    maxsize=16_384
)
_next_starts_lock = threading.Lock()
