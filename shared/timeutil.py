"""Event times: local wall-clock times in an IANA zone, RRULE validation, and when an
event (or a whole series) is over. Pure functions; errors are ValueErrors with the reason.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import islice
from zoneinfo import ZoneInfo, available_timezones

from dateutil.rrule import rrule, rrulestr

# What the API accepts as a local time: no offset, no `Z`, seconds optional.
LOCAL_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$"
_LOCAL_TIME = re.compile(LOCAL_TIME_PATTERN)
_OFFSET = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$", re.IGNORECASE)
# Events repeat at most daily: finer rules would overlap their own occurrences.
ALLOWED_FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# A finite series is expanded to find its end; past this many occurrences we refuse it.
MAX_OCCURRENCES = 5000
_RULE_PART = re.compile(r"^[A-Z]+=[A-Z0-9,+\-]+$")
_FLOATING_UNTIL = re.compile(r"UNTIL=(\d{8}(?:T\d{6})?)(?![\dZ])")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str) -> ZoneInfo:
    """The IANA zone of that name, or ValueError."""
    if name not in _zones():
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
    utc = aware.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != local:
        raise ValueError(f"does not exist in {tz.key} (it falls in a daylight-saving gap)")
    return utc


def normalise_rrule(value: str) -> str:
    """The RRULE value in canonical case, or ValueError: no DTSTART, no `RRULE:` lines."""
    text = value.strip().upper()
    if not text or "\n" in text or "\r" in text or ":" in text:
        raise ValueError("must be a single RRULE value like FREQ=WEEKLY;BYDAY=TU (no DTSTART)")
    parts = [p for p in text.split(";") if p]
    if not all(_RULE_PART.match(p) for p in parts):
        raise ValueError("is not an RRULE value (NAME=VALUE pairs separated by ';')")
    names = [p.split("=", 1)[0] for p in parts]
    if len(set(names)) != len(names):
        raise ValueError("names a rule part twice")
    freq = dict(p.split("=", 1) for p in parts).get("FREQ")
    if freq is None:
        raise ValueError("needs FREQ (e.g. FREQ=WEEKLY)")
    if freq not in ALLOWED_FREQS:
        raise ValueError(f"FREQ must be one of {', '.join(ALLOWED_FREQS)}")
    if "COUNT" in names and "UNTIL" in names:
        raise ValueError("may not have both COUNT and UNTIL")
    return ";".join(parts)


def parse_rule(recurrence: str, dtstart: datetime) -> rrule:
    """dateutil's rule for a normalised RRULE from an aware DTSTART; ValueError on garbage.

    A floating UNTIL (no `Z`) is read as local time in DTSTART's zone, a date-only UNTIL
    as the end of that day, as shared.scoring does.
    """

    def until_utc(m: re.Match[str]) -> str:
        raw = m.group(1)
        local = datetime.strptime(raw if "T" in raw else raw + "T235959", "%Y%m%dT%H%M%S")
        utc = local.replace(tzinfo=dtstart.tzinfo).astimezone(UTC)
        return "UNTIL=" + utc.strftime("%Y%m%dT%H%M%SZ")

    try:
        rule = rrulestr(_FLOATING_UNTIL.sub(until_utc, recurrence), dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"is not a valid RRULE ({exc})") from None
    if not isinstance(rule, rrule):
        raise ValueError("must be one RRULE")
    return rule


def over_at(
    starts_at: datetime, ends_at: datetime, tz: ZoneInfo, recurrence: str | None
) -> datetime | None:
    """When the event, or its series' last occurrence, ends (UTC); None = never over.

    Raises ValueError (for `recurrence`) when the series does not start at `starts_at`
    or is too long to expand.
    """
    first = starts_at.replace(tzinfo=tz)
    duration = ends_at - starts_at
    if recurrence is None:
        return (first + duration).astimezone(UTC)
    rule = parse_rule(recurrence, first)
    head = rule.after(first - timedelta(seconds=1), inc=True)
    if head is None or head.replace(tzinfo=None) != starts_at:
        raise ValueError("must include starts_at as its first occurrence (check BYDAY etc.)")
    if "COUNT=" not in recurrence and "UNTIL=" not in recurrence:
        return None
    occurrences = list(islice(rule, MAX_OCCURRENCES + 1))
    if len(occurrences) > MAX_OCCURRENCES:
        raise ValueError(f"has more than {MAX_OCCURRENCES} occurrences")
    return (occurrences[-1] + duration).astimezone(UTC)
