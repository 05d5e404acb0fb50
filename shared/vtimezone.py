"""VTIMEZONE components built from zoneinfo, in a form every client reads alike.

Yearly rules become one RRULE-based STANDARD/DAYLIGHT pair; anything irregular
becomes one dated component per transition (ical.js misreads multi-date RDATEs).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard, vRecur

# Every real zone's offsets change at most once in any 24 h, so a daily probe
# finds every transition; bisection then pins it to the second.
_PROBE_STEP = timedelta(days=1)
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# A zone without transitions still needs one observance; its start only has
# to precede every event, and 1970 is the customary choice.
_EPOCH_START = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of UTC offset, as a VTIMEZONE observance describes it."""

    at_utc: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str

    @property
    def local_start(self) -> datetime:
        """Wall-clock time of the change in the offset before it (RFC 5545 3.6.5)."""
        return (self.at_utc + self.offset_from).replace(tzinfo=None)

    @property
    def is_daylight(self) -> bool:
        # Judged by direction, not by zoneinfo's dst(): Europe/Dublin's
        # tzdata calls winter "negative DST", yet clients expect summer as
        # DAYLIGHT.
        return self.offset_to > self.offset_from


def zone_transitions(zone: ZoneInfo, first_year: int, last_year: int) -> list[Transition]:
    """Every offset change whose UTC instant falls in [first_year, last_year]."""
    start = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    found: list[Transition] = []
    probe, offset = start, _offset_at(zone, start)
    while probe < end:
        step_end = min(probe + _PROBE_STEP, end)
        next_offset = _offset_at(zone, step_end)
        if next_offset != offset:
            at = _bisect_change(zone, probe, step_end, offset)
            name = at.astimezone(zone).tzname() or _format_offset(next_offset)
            found.append(Transition(at, offset, next_offset, name))
        probe, offset = step_end, next_offset
    return found


def build_vtimezone(tzid: str, first_year: int, last_year: int) -> Timezone:
    """A VTIMEZONE for `tzid`, exact for every instant of the years given.

    Past `last_year` it stays exact while the zone keeps its current yearly
    rule, because that rule is written as an open-ended RRULE.
    """
    zone = ZoneInfo(tzid)
    transitions = zone_transitions(zone, first_year, last_year)
    vtimezone = Timezone()
    vtimezone.add("tzid", tzid)
    if not transitions:
        offset = _offset_at(zone, datetime(first_year, 1, 1, tzinfo=UTC))
        name = datetime(first_year, 1, 1, tzinfo=zone).tzname() or _format_offset(offset)
        vtimezone.add_component(
            _observance(Transition(_EPOCH_START.replace(tzinfo=UTC), offset, offset, name))
        )
        return vtimezone

    dated, yearly = _split_yearly_tail(transitions, first_year, last_year)
    for transition in dated:
        component = _observance(transition)
        component.add("rdate", transition.local_start)
        vtimezone.add_component(component)
    for transition, day_rule in yearly:
        component = _observance(transition)
        component.add("rrule", _yearly_rule(transition.local_start.month, day_rule))
        vtimezone.add_component(component)
    return vtimezone


def _split_yearly_tail(
    transitions: Sequence[Transition], first_year: int, last_year: int
) -> tuple[list[Transition], list[tuple[Transition, str]]]:
    """Split into (dated transitions, yearly rules) at the last break in the pattern.

    The yearly tail is the longest run of years, ending with `last_year`, in
    which each year has one change forward and one back on the same rule. It
    is what the zone does today, so it is written as RRULEs; earlier
    irregular years keep one dated component per transition.
    """
    by_year: dict[int, list[Transition]] = {}
    for transition in transitions:
        by_year.setdefault(transition.local_start.year, []).append(transition)

    latest = by_year.get(last_year, [])
    if not _is_dst_pair(latest):
        return list(transitions), []
    reference = {t.is_daylight: t for t in latest}
    rules = {kind: _day_rules(t.local_start) for kind, t in reference.items()}
    tail_start = last_year
    for year in range(last_year - 1, first_year - 1, -1):
        pair = by_year.get(year, [])
        if not _is_dst_pair(pair):
            break
        narrowed = {
            t.is_daylight: [
                rule
                for rule in rules[t.is_daylight]
                if _same_shape(t, reference[t.is_daylight]) and rule in _day_rules(t.local_start)
            ]
            for t in pair
        }
        if not all(narrowed.values()):
            break
        rules, tail_start = narrowed, year

    dated = [t for t in transitions if t.local_start.year < tail_start]
    yearly = [(t, rules[t.is_daylight][0]) for t in by_year[tail_start]]
    return dated, sorted(yearly, key=lambda item: item[0].at_utc)


def _is_dst_pair(transitions: Sequence[Transition]) -> bool:
    """True for one change forward and one back within a year."""
    return sorted(t.is_daylight for t in transitions) == [False, True]


def _same_shape(transition: Transition, reference: Transition) -> bool:
    """True when both changes share month, wall-clock time and offsets."""
    a, b = transition.local_start, reference.local_start
    return (
        a.month == b.month
        and a.time() == b.time()
        and transition.offset_from == reference.offset_from
        and transition.offset_to == reference.offset_to
    )


def _day_rules(day: datetime) -> list[str]:
    """Rules that pick `day` within its month, most conventional first.

    "-1SU" is the last Sunday, "2SU" the second, and "SU>=23" the first Sunday
    on or after the 23rd (tzdata's form for Israel, Chile and others).
    """
    weekday = _WEEKDAYS[day.weekday()]
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    rules = []
    if day.day + 7 > days_in_month:
        rules.append(f"-1{weekday}")
    nth = (day.day - 1) // 7 + 1
    if nth <= 4:
        rules.append(f"{nth}{weekday}")
    for first_day in range(day.day, max(day.day - 7, 0), -1):
        if first_day + 6 <= days_in_month and (first_day - 1) % 7:
            rules.append(f"{weekday}>={first_day}")
    return rules


def _yearly_rule(month: int, day_rule: str) -> vRecur:
    if ">=" not in day_rule:
        return vRecur(freq="YEARLY", bymonth=month, byday=day_rule)
    weekday, first_day = day_rule.split(">=")
    # RFC 5545's own idiom (its US election-day example): the weekday that
    # falls among seven consecutive month days.
    days = list(range(int(first_day), int(first_day) + 7))
    return vRecur(freq="YEARLY", bymonth=month, byday=weekday, bymonthday=days)


def _observance(transition: Transition) -> TimezoneStandard | TimezoneDaylight:
    component = TimezoneDaylight() if transition.is_daylight else TimezoneStandard()
    component.add("dtstart", transition.local_start)
    component.add("tzoffsetfrom", transition.offset_from)
    component.add("tzoffsetto", transition.offset_to)
    component.add("tzname", transition.name)
    return component


def _offset_at(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def _bisect_change(zone: ZoneInfo, low: datetime, high: datetime, before: timedelta) -> datetime:
    """First whole second in (low, high] whose offset differs from `before`."""
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            break
        if _offset_at(zone, middle) != before:
            high = middle
        else:
            low = middle
    return high


def _format_offset(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "+" if seconds >= 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours:02d}{minutes:02d}"
