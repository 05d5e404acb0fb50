"""The recurrence gate: parses an RRULE, refuses in words what the SPEC refuses, and expands
a series only through bounded scans that jump straight to the span asked for. The one
place lowkey reads a rule: API, worker, feed and demo all come through here.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_INTERVAL = 99
YEARS_AHEAD = 10  # the last occurrence, and every time an event names, at most this far ahead
# The farthest one expansion looks: every occurrence lies within 10 years of now, so no
# caller needs more than that (plus a year of slack for spans that start a little late).
MAX_SPAN = timedelta(days=366 * (YEARS_AHEAD + 1))
# One occurrence a day at most (the time of day is fixed), so a whole span holds this many:
# a hard cap that no valid rule reaches and no invalid one can pass.
MAX_OCCURRENCES = MAX_SPAN.days + 1
# Days one scan (or one whole check) may examine. A daily rule over 10 years examines
# 3 653, a yearly one 4 026; sparse rules that need more to find their next occurrence
# are refused by the check (7 ms at most here: benchmarks/bench_recurrence.py) and cut short in
# expansions.
DAY_BUDGET = 8_000
# Ten years of daily occurrences are 3 653; a COUNT beyond the budget could not be checked.
MAX_COUNT = DAY_BUDGET
# Scans never reach the end of the calendar (datetime overflow): far beyond any bound.
_LAST_YEAR = 9000

_PARTS = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYYEARDAY",
    "BYWEEKNO",
    "BYMONTH",
    "WKST",
)
_TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
_UNTIL = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})(?:T([0-9]{2})([0-9]{2})([0-9]{2})(Z)?)?")
_WHOLE = re.compile(r"[0-9]{1,6}")
_NUMBER = re.compile(r"[+-]?[0-9]{1,3}")
_DAY = re.compile(r"([+-]?[0-9]{1,3})?(MO|TU|WE|TH|FR|SA|SU)")
# RFC 5545 3.3.10: which BYxxx parts each FREQ may carry.
_NOT_WITH = {
    "BYYEARDAY": ("DAILY", "WEEKLY", "MONTHLY"),
    "BYWEEKNO": ("DAILY", "WEEKLY", "MONTHLY"),
    "BYMONTHDAY": ("WEEKLY",),
}


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """A rule's parts as read from its text, before it meets a start (`text` is canonical:
    upper case, parts in the order given, every value as written)."""

    text: str
    freq: str
    interval: int = 1
    count: int | None = None
    until: str | None = None  # as written: YYYYMMDD, YYYYMMDDTHHMMSS or ...Z
    byday: frozenset[int] = frozenset()  # weekdays without a number (0 = Monday)
    bynday: frozenset[tuple[int, int]] = frozenset()  # (weekday, n): the n-th in its range
    bymonthday: frozenset[int] = frozenset()
    byyearday: frozenset[int] = frozenset()
    byweekno: frozenset[int] = frozenset()
    bymonth: frozenset[int] = frozenset()
    wkst: int = 0


class BudgetExceeded(Exception):
    """A scan examined more days than DAY_BUDGET allows."""


def normalise(text: str) -> str:
    """The rule's canonical text, or ValueError saying what is wrong."""
    return parse(text).text


def parse(text: str) -> Rule:
    """Read a rule's text and check each part against RFC 5545 and the SPEC's bounds."""
    value = text.strip().upper()
    if not value or any(c in value for c in "\r\n:"):
        raise ValueError("must be a single RRULE value like FREQ=WEEKLY;BYDAY=TU (no DTSTART)")
    parts: dict[str, str] = {}
    for part in (p for p in value.split(";") if p):
        name, eq, raw = part.partition("=")
        if not eq or not name or not raw:
            raise ValueError(f"{part!r} is not NAME=VALUE (parts are separated by ';')")
        if name in parts:
            raise ValueError(f"names {name} twice")
        parts[name] = raw
    for name in parts:
        if name in _TIME_PARTS:
            raise ValueError(f"may not have {name}: the time of day is starts_at's")
        if name == "BYSETPOS":
            raise ValueError("may not have BYSETPOS: give a numbered weekday (BYDAY=1MO) instead")
        if name not in _PARTS:
            raise ValueError(f"{name} is not a rule part lowkey takes ({', '.join(_PARTS)})")
    freq = parts.get("FREQ")
    if freq is None:
        raise ValueError("needs FREQ (e.g. FREQ=WEEKLY)")
    if freq not in FREQS:
        raise ValueError("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    for name, freqs in _NOT_WITH.items():
        if name in parts and freq in freqs:
            raise ValueError(f"may not have {name} with FREQ={freq} (RFC 5545)")
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValueError("may not have both COUNT and UNTIL")
    byday, bynday = _weekdays(parts.get("BYDAY"), freq, "BYMONTH" in parts, "BYWEEKNO" in parts)
    until = parts.get("UNTIL")
    if until is not None and not _read_until(until):
        raise ValueError(
            "UNTIL must be a date (20271231), a local time (20271231T190000) "
            "or a UTC time (20271231T180000Z)"
        )
    return Rule(
        text=";".join(f"{k}={v}" for k, v in parts.items()),
        freq=freq,
        interval=_whole("INTERVAL", parts.get("INTERVAL", "1"), 1, MAX_INTERVAL),
        count=None if "COUNT" not in parts else _whole("COUNT", parts["COUNT"], 1, MAX_COUNT),
        until=until,
        byday=byday,
        bynday=bynday,
        bymonthday=_numbers(parts, "BYMONTHDAY", 31, "a month has at most 31 days"),
        byyearday=_numbers(parts, "BYYEARDAY", 366, "a year has at most 366 days"),
        byweekno=_numbers(parts, "BYWEEKNO", 53, "a year has at most 53 weeks"),
        bymonth=_numbers(parts, "BYMONTH", 12, "months are 1 to 12", signed=False),
        wkst=_weekday("WKST", parts.get("WKST", "MO")),
    )


def _whole(name: str, raw: str, low: int, high: int | None) -> int:
    words = f"from {low} to {high}" if high is not None else f"from {low} on"
    if not _WHOLE.fullmatch(raw) or not low <= int(raw) <= (high or 999_999):
        raise ValueError(f"{name} must be a whole number {words}")
    return int(raw)


def _numbers(
    parts: dict[str, str], name: str, top: int, why: str, *, signed: bool = True
) -> frozenset[int]:
    raw = parts.get(name)
    if raw is None:
        return frozenset()
    words = f"1 to {top}" + (f" or -{top} to -1" if signed else "")
    values = set()
    for item in raw.split(","):
        if not _NUMBER.fullmatch(item) or (not signed and not _WHOLE.fullmatch(item)):
            raise ValueError(f"{name} takes numbers {words}, separated by commas")
        n = int(item)
        if not 1 <= abs(n) <= top:
            raise ValueError(f"{name}={item} is out of range: {why} ({words})")
        values.add(n)
    return frozenset(values)


def _weekday(name: str, code: str) -> int:
    if code not in WEEKDAY_CODES:
        raise ValueError(f"{name} must be one of {', '.join(WEEKDAY_CODES)}")
    return WEEKDAY_CODES.index(code)


def _weekdays(
    raw: str | None, freq: str, by_month: bool, by_weekno: bool
) -> tuple[frozenset[int], frozenset[tuple[int, int]]]:
    if raw is None:
        return frozenset(), frozenset()
    plain, numbered = set(), set()
    for item in raw.split(","):
        m = _DAY.fullmatch(item)
        if m is None:
            raise ValueError(f"BYDAY={item} is not a weekday (MO … SU, optionally numbered: 1MO)")
        wd = WEEKDAY_CODES.index(m.group(2))
        if m.group(1) is None:
            plain.add(wd)
            continue
        n = int(m.group(1))
        if freq not in ("MONTHLY", "YEARLY") or by_weekno:
            raise ValueError(
                f"BYDAY={item}: a numbered weekday needs FREQ=MONTHLY or YEARLY (without BYWEEKNO)"
            )
        in_month = freq == "MONTHLY" or by_month
        top = 5 if in_month else 53
        if not 1 <= abs(n) <= top:
            where = "a month has at most 5" if in_month else "a year has at most 53"
            raise ValueError(f"BYDAY={item} is out of range: {where} of each weekday")
        numbered.add((wd, n))
    if plain and numbered:
        # Calendar programs disagree on what such a mix means (dateutil intersects them).
        raise ValueError("BYDAY may not mix numbered (1MO) and plain (TU) weekdays")
    return frozenset(plain), frozenset(numbered)


def _read_until(raw: str) -> tuple[datetime, bool] | None:
    """(the time, whether it is UTC); a date alone means the end of that day."""
    m = _UNTIL.fullmatch(raw)
    if m is None:
        return None
    y, mo, d, hh, mm, ss, z = m.groups()
    try:
        if hh is None:
            return datetime(int(y), int(mo), int(d), 23, 59, 59), False
        return datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss)), z is not None
    except ValueError:
        return None


def until_instant(raw: str, zone: ZoneInfo) -> datetime:
    """UNTIL as a UTC instant: a UTC form as it is, a floating time or a date as local time
    in the event's zone (fold=0: an ambiguous time means its first occurrence)."""
    read = _read_until(raw)
    if read is None:
        raise ValueError(f"UNTIL={raw} is not an RFC 5545 date or time")
    moment, is_utc = read
    # Only the first years matter; far ones are kept away from the calendar's end.
    moment = min(moment, datetime(_LAST_YEAR, 1, 1))
    if is_utc:
        return moment.replace(tzinfo=UTC)
    return moment.replace(tzinfo=zone).astimezone(UTC)


def with_utc_until(text: str, zone: ZoneInfo) -> str:
    """The rule's text with UNTIL in UTC, as RFC 5545 requires beside a DTSTART with TZID.
    Only UNTIL is read (ValueError when it is no RFC 5545 form): the other parts are left
    as they are, so a stored rule can be written out whatever the gate says of it."""
    parts = [p for p in text.strip().upper().split(";") if p]
    return ";".join(
        "UNTIL=" + until_instant(p[6:], zone).strftime("%Y%m%dT%H%M%SZ")
        if p.startswith("UNTIL=")
        else p
        for p in parts
    )


def years_ahead(now: datetime, years: int = YEARS_AHEAD) -> datetime:
    """`now` that many calendar years later (29 February becomes the 28th)."""
    try:
        return now.replace(year=now.year + years)
    except ValueError:
        return now.replace(year=now.year + years, day=28)


def check(text: str, starts_at: datetime, zone: ZoneInfo, *, now: datetime) -> Series:
    """The series of rule `text` from the naive local `starts_at` in `zone`, checked as the
    SPEC says; ValueError (for `recurrence`) saying why otherwise.

    starts_at must be the rule's first occurrence (so it has at least one); the last one
    (by COUNT or UNTIL) at most 10 years ahead of `now`. At most 7 occurrences fall in any
    calendar week by construction: one a day at most, since the time of day is
    starts_at's. Bounded: the whole check examines at most DAY_BUDGET days.
    """
    series = Series(parse(text), starts_at, zone)
    try:
        series.resolve_end(now, budget=[DAY_BUDGET])
    except BudgetExceeded:
        raise ValueError(
            "occurs too rarely for lowkey to check (more than "
            f"{DAY_BUDGET} days to look through): give a simpler rule"
        ) from None
    return series


class Series:
    """A checked rule from its first start: its occurrences, found period by period from
    the span asked for (never iterating from the start to reach it). Starts are aware
    datetimes in the event's zone; internally dates, since the time of day is fixed."""

    def __init__(self, rule: Rule, starts_at: datetime, zone: ZoneInfo) -> None:
        self.rule = rule
        self.zone = zone
        self.first = starts_at
        self.clock: time = starts_at.time()
        self.last: datetime | None = None  # naive local start of the last occurrence
        r = rule
        unpinned = not (r.byweekno or r.byyearday or r.bymonthday or r.byday or r.bynday)
        # RFC 5545: parts a FREQ needs but the rule leaves out come from DTSTART.
        self.byday = (
            frozenset({starts_at.weekday()}) if unpinned and r.freq == "WEEKLY" else r.byday
        )
        self.bymonthday = (
            frozenset({starts_at.day})
            if unpinned and r.freq in ("MONTHLY", "YEARLY")
            else r.bymonthday
        )
        self.bymonth = (
            frozenset({starts_at.month})
            if unpinned and r.freq == "YEARLY" and not r.bymonth
            else r.bymonth
        )
        self.weekdays = self.byday | {wd for wd, _ in r.bynday}
        start = starts_at.date()
        self.origin = start - timedelta(days=(start.weekday() - r.wkst) % 7 * (r.freq == "WEEKLY"))

    # -- checking --------------------------------------------------------------------

    def resolve_end(self, now: datetime, budget: list[int]) -> None:
        """Check the start and find the last occurrence (by COUNT or UNTIL), within the
        SPEC's 10 years; ValueError otherwise."""
        first_day = self.first.date()
        if first_day not in self._period_dates(0, budget):
            raise ValueError(
                f"must have starts_at ({self.first.isoformat()}) as its first occurrence "
                "(check BYDAY, BYMONTHDAY, BYMONTH…)"
            )
        limit = self.latest_start(now)
        if self.rule.count is not None:
            self.last = self._count_end(self.rule.count, limit, budget)
            return
        if self.rule.until is None:
            return
        until = until_instant(self.rule.until, self.zone)
        if self._instant(first_day) > until:
            raise ValueError("has UNTIL before starts_at: it would have no occurrence")
        if until > limit:
            after_limit = self._dates_between(limit, until, budget, inclusive_end=True)
            if any(self._instant(day) > limit for day in after_limit):
                raise ValueError(
                    f"runs past {self._local(limit).date()}: the last occurrence may be at "
                    f"most {YEARS_AHEAD} years ahead (set UNTIL or COUNT sooner)"
                )
        last = self._last_date_until(min(until, limit), budget)
        assert last is not None  # the first occurrence is itself before UNTIL
        self.last = datetime.combine(last, self.clock)

    def _count_end(self, count: int, limit: datetime, budget: list[int]) -> datetime:
        first = self._instant(self.first.date())
        days = self._dates_between(first, limit, budget, inclusive_end=True)
        for seen, day in enumerate(days, start=1):
            if seen == count:
                return datetime.combine(day, self.clock)
        raise ValueError(
            f"has COUNT={count}, which runs past {self._local(limit).date()}: the last "
            f"occurrence may be at most {YEARS_AHEAD} years ahead"
        )

    def _last_date_until(self, end: datetime, budget: list[int]) -> date | None:
        """The last occurrence date whose start is at or before `end`, scanning backwards."""
        k = self._period_of(self._local(end).date() + timedelta(days=1))
        first_day = self.first.date()
        if self.rule.freq == "DAILY":
            # A period is one day: step back through the days themselves.
            day, step = self._period_start(k), timedelta(days=self.rule.interval)
            while day >= first_day:
                budget[0] -= 1
                if budget[0] < 0:
                    raise BudgetExceeded
                if self._matches(day) and self._instant(day) <= end:
                    return day
                day -= step
            return None
        while k >= 0:
            for day in reversed(self._period_dates(k, budget)):
                if day >= first_day and self._instant(day) <= end:
                    return day
            k -= 1
        return None

    def latest_start(self, now: datetime) -> datetime:
        """The last instant an occurrence may start: the end of the local day 10 years on."""
        day = years_ahead(now.astimezone(self.zone)).date()
        return datetime.combine(day, time.max, tzinfo=self.zone).astimezone(UTC)

    # -- expanding -------------------------------------------------------------------

    def starts_between(
        self, after: datetime, before: datetime, *, limit: int = MAX_OCCURRENCES
    ) -> list[datetime]:
        """Starts in [after, before), at most `limit` of them, over at most MAX_SPAN from
        `after`; a scan that runs out of budget returns what it found."""
        before = min(before, max(after, self._instant(self.first.date())) + MAX_SPAN)
        found: list[datetime] = []
        try:
            for day in self._dates_between(after, before, [DAY_BUDGET]):
                if len(found) >= min(limit, MAX_OCCURRENCES):
                    break
                found.append(datetime.combine(day, self.clock, tzinfo=self.zone))
        except BudgetExceeded:
            pass
        return found

    def first_start_after(self, instant: datetime, *, inclusive: bool = False) -> datetime | None:
        """The first start after `instant` (at it too when `inclusive`), within MAX_SPAN."""
        for start in self.starts_between(instant, instant + MAX_SPAN, limit=2):
            if start > instant or inclusive:
                return start
        return None

    def last_start(self) -> datetime | None:
        """The start of the last occurrence (aware), None for a series without end."""
        return None if self.last is None else self.last.replace(tzinfo=self.zone)

    # -- periods ---------------------------------------------------------------------

    def _instant(self, day: date) -> datetime:
        return datetime.combine(day, self.clock, tzinfo=self.zone).astimezone(UTC)

    def _local(self, instant: datetime) -> datetime:
        try:
            return instant.astimezone(self.zone).replace(tzinfo=None)
        except OverflowError:
            return datetime.max if instant.year > 1 else datetime.min

    def _dates_between(
        self, after: datetime, before: datetime, budget: list[int], *, inclusive_end: bool = False
    ) -> Iterator[date]:
        """Occurrence dates whose start lies in [after, before) (or [after, before]), in
        order: from the period holding `after`, never before the first occurrence, and
        never past the last one."""
        first_day, one_day = self.first.date(), timedelta(days=1)
        after_day = self._local(after).date()
        before_day = min(self._local(before).date(), date(_LAST_YEAR, 1, 1))
        hi = before_day + one_day
        if self.last is not None:
            hi = min(hi, self.last.date())
        for day in self._dates_from(max(after_day - one_day, first_day), hi, budget):
            # Only a day next to a bound can fall either side of it (DST shifts < 1 day).
            if day <= after_day + one_day and self._instant(day) < after:
                continue
            if day >= before_day - one_day:
                at = self._instant(day)
                if at > before or (at == before and not inclusive_end):
                    return
            yield day

    def _dates_from(self, lo: date, hi: date, budget: list[int]) -> Iterator[date]:
        """Occurrence dates in [lo, hi] (local), in order, from the period holding `lo`."""
        k = self._period_of(lo)
        if self.rule.freq == "DAILY":
            # A period is one day: step through the days themselves.
            day, step = self._period_start(k), timedelta(days=self.rule.interval)
            while day <= hi:
                budget[0] -= 1
                if budget[0] < 0:
                    raise BudgetExceeded
                if day >= lo and self._matches(day):
                    yield day
                day += step
            return
        while (start := self._period_start(k)) <= hi and start.year < _LAST_YEAR:
            for day in self._period_dates(k, budget):
                if lo <= day <= hi:
                    yield day
            k += 1

    def _period_of(self, day: date) -> int:
        """The index of the period (of FREQ and INTERVAL) holding `day`, 0 = the first."""
        r, o = self.rule, self.origin
        if r.freq == "DAILY":
            steps = (day - o).days
        elif r.freq == "WEEKLY":
            steps = (day - o).days // 7
        elif r.freq == "MONTHLY":
            steps = (day.year - o.year) * 12 + day.month - o.month
        else:
            steps = day.year - o.year
        return max(0, steps // r.interval)

    def _period_start(self, k: int) -> date:
        r, o = self.rule, self.origin
        step = k * r.interval
        if r.freq == "DAILY":
            return o + timedelta(days=step)
        if r.freq == "WEEKLY":
            return o + timedelta(weeks=step)
        if r.freq == "MONTHLY":
            year, month = divmod(o.month - 1 + step, 12)
            return date(o.year + year, month + 1, 1)
        return date(o.year + step, 1, 1)

    def _period_dates(self, k: int, budget: list[int]) -> list[date]:
        """The occurrence dates of period k, in order (before the first start included)."""
        start = self._period_start(k)
        candidates = self._candidates(start)
        budget[0] -= len(candidates) + 1
        if budget[0] < 0:
            raise BudgetExceeded
        return [d for d in candidates if self._matches(d)]

    def _candidates(self, start: date) -> list[date]:
        """Every date of the period that might match (a superset, in order)."""
        freq = self.rule.freq
        if freq == "DAILY":
            return [start]
        if freq == "WEEKLY":
            return [start + timedelta(days=i) for i in range(7)]
        if freq == "MONTHLY":
            months = [start.month] if not self.bymonth or start.month in self.bymonth else []
        else:
            months = sorted(self.bymonth) or list(range(1, 13))
        year = start.year
        if freq == "YEARLY" and self.rule.byyearday:
            length = 365 + calendar.isleap(year)
            days = {n if n > 0 else length + 1 + n for n in self.rule.byyearday}
            first = date(year, 1, 1)
            return [first + timedelta(days=n - 1) for n in sorted(days) if 1 <= n <= length]
        out: list[date] = []
        for month in months:
            length = calendar.monthrange(year, month)[1]
            if self.bymonthday:
                days = {n if n > 0 else length + 1 + n for n in self.bymonthday}
                out += [date(year, month, n) for n in sorted(days) if 1 <= n <= length]
            elif self.weekdays and not self.rule.byweekno:
                first_wd = calendar.weekday(year, month, 1)
                days = {
                    n for wd in self.weekdays for n in range(1 + (wd - first_wd) % 7, length + 1, 7)
                }
                out += [date(year, month, n) for n in sorted(days)]
            else:
                out += [date(year, month, n) for n in range(1, length + 1)]
        return out

    def _matches(self, day: date) -> bool:
        """Whether a candidate date passes every BYxxx part (RFC 5545, as dateutil reads it:
        each part given limits the dates the others allow)."""
        r = self.rule
        if self.bymonth and day.month not in self.bymonth:
            return False
        if self.byday and day.weekday() not in self.byday:
            return False
        if self.bymonthday:
            length = calendar.monthrange(day.year, day.month)[1]
            if day.day not in self.bymonthday and day.day - length - 1 not in self.bymonthday:
                return False
        if r.byyearday:
            n, length = day.timetuple().tm_yday, 365 + calendar.isleap(day.year)
            if n not in r.byyearday and n - length - 1 not in r.byyearday:
                return False
        if r.byweekno and not _in_weeks(day, r.byweekno, r.wkst):
            return False
        if r.bynday:
            if r.freq == "MONTHLY" or r.bymonth:
                n, length = day.day, calendar.monthrange(day.year, day.month)[1]
            else:
                n, length = day.timetuple().tm_yday, 365 + calendar.isleap(day.year)
            ordinal, from_end = (n - 1) // 7 + 1, -((length - n) // 7 + 1)
            wd = day.weekday()
            if (wd, ordinal) not in r.bynday and (wd, from_end) not in r.bynday:
                return False
        return True


def _week_one(year: int, wkst: int) -> date:
    """The first day of week 1: the first week (starting on `wkst`) with 4 days in `year`."""
    jan1 = date(year, 1, 1)
    start = jan1 - timedelta(days=(jan1.weekday() - wkst) % 7)
    return start if (jan1 - start).days < 4 else start + timedelta(weeks=1)


def _in_weeks(day: date, weeks: frozenset[int], wkst: int) -> bool:
    """Whether `day`'s week number (RFC 5545, weeks starting on `wkst`) is in `weeks`."""
    year = day.year
    if day < _week_one(year, wkst):
        year -= 1
    elif day >= _week_one(year + 1, wkst):
        year += 1
    n = (day - _week_one(year, wkst)).days // 7 + 1
    count = (_week_one(year + 1, wkst) - _week_one(year, wkst)).days // 7
    return n in weeks or n - count - 1 in weeks
