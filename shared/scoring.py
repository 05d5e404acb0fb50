"""Pure matching, exactly per the SPEC's "Matching": intensity, eligibility, the parts of
an eligible pair (what the weights are applied to where matches are read, in
shared/db/weighing.py), its explanation and the feed's weekly cap. No I/O; plain Structs
in, numbers out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import msgspec

from shared import match_rules as rules
from shared.models.support import shared_support_words
from shared.timeutil import Refusal, Schedule, stored_schedule

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_WEEK = 7 * 24 * 60

_SIZE_WORDS = {1: "small", 2: "small", 3: "mid-sized", 4: "large", 5: "large"}
_STRUCTURE_WORDS = {"structured": "structured", "semi": "semi-structured", "open": "open"}
_NOISE_WORDS = {"quiet": "quiet", "moderate": "", "loud": "loud"}
_CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}
CAP_WEEKS = 12  # the feed shows this many calendar weeks, from the current one


class Weights(msgspec.Struct, frozen=True, kw_only=True):
    """An admin weight set; the defaults are the SPEC's version 1."""

    distance: float = 1.0
    interest: float = 1.0
    comfort: float = 1.0
    distance_decay_km: float = 5.0
    online_score: float = 0.6
    stretch_penalty: float = 0.4
    min_score: float = 0.3
    support: float = 1.0
    together_bonus: float = 0.1


class AvailabilityWindow(msgspec.Struct, frozen=True):
    """Days and a [from, to) wall-clock window in the profile's time zone.

    `to` at or before `from` means the window runs past midnight into the next day.
    """

    days: tuple[str, ...]
    start: time = msgspec.field(name="from")
    end: time = msgspec.field(name="to")


def availability_from_wire(windows: Sequence[dict[str, object]]) -> tuple[AvailabilityWindow, ...]:
    """Wire windows ({"days": [...], "from": "17:00", "to": "22:00"}; "24:00" is midnight)."""

    return tuple(
        AvailabilityWindow(
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


class ScoringEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    format: str  # in_person | online | hybrid
    lat: float | None
    lon: float | None
    tags: tuple[str, ...]
    intensity: int
    group_size: int
    structure: str  # structured | semi | open
    noise: str  # quiet | moderate | loud
    talking_optional: bool
    newcomer_support: bool
    starts_at: datetime  # local wall-clock, naive, in `timezone` (first occurrence)
    ends_at: datetime
    timezone: str
    recurrence: str | None = None  # RRULE value
    over_at: datetime | None = None  # aware; None = never over
    status: str = "scheduled"
    cost_cents: int = 0
    currency: str = "EUR"
    languages: tuple[str, ...] = ()
    accessibility: tuple[str, ...] = ()
    support: tuple[str, ...] = ()  # the kinds of support it gives (SPEC "Support")


class ScoringProfile(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    home_lat: float
    home_lon: float
    radius_km: float
    interests: dict[str, float]
    comfort_level: int
    open_to_stretch: bool = False
    formats: tuple[str, ...] = ("in_person", "online")
    max_cost_cents: int | None = None
    currency: str | None = None
    languages: tuple[str, ...] = ()
    accessibility_needs: tuple[str, ...] = ()
    availability: tuple[AvailabilityWindow, ...] = ()
    timezone: str = "UTC"
    max_events_per_week: int = 3
    seeking: tuple[str, ...] = ()  # the kinds of support the user would like
    hidden_event_ids: frozenset[int] = frozenset()


class PairScore(msgspec.Struct, frozen=True, kw_only=True):
    """An eligible pair's parts: what the weights are applied to where matches are read
    (shared/db/weighing.py). Eligibility never depends on the weights."""

    event_id: int
    distance_km: float | None  # home to venue when they can meet in person, else None
    online: bool  # they can meet online
    interest: float  # noisy-OR of the shared interests (0.5 without interests)
    comfort_gap: int  # comfort level minus the event's intensity; -1 for a stretch
    explanation: str  # without the distance: the feed's text
    # |seeking & support| / |seeking|; None when not counted (the user seeks nothing, or the
    # event declares no support: unknown is not none), so such pairs score as before.
    support: float | None = None


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


def interest_score(event_tags: tuple[str, ...], interests: dict[str, float]) -> float:
    """Noisy-OR of the weights of the shared tags (in the event's tag order, as the bulk
    scorer multiplies them); 0.5 without interests."""
    miss = 1.0
    for tag in dict.fromkeys(event_tags):
        miss *= 1.0 - interests.get(tag, 0.0)
    score: float = rules.interest_score(miss, bool(interests))
    return score


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


def occurs_from(event: ScoringEvent, instant: datetime, *, now: datetime) -> bool:
    """Whether an occurrence starts at or after `instant` (looking at most 10 years on)."""
    found = _schedule(event, now)
    return not isinstance(found, Refusal) and found.starts_from(instant)


def _schedule(event: ScoringEvent, now: datetime) -> Schedule | Refusal:
    return stored_schedule(
        event.id, event.starts_at, event.ends_at, event.timezone, event.recurrence, now
    )


def minute_of_week(instant: datetime, tz_name: str) -> int:
    """Minutes since Monday 00:00 of an instant's wall-clock time in a zone."""
    local = instant.astimezone(ZoneInfo(tz_name))
    return (local.weekday() * 24 + local.hour) * 60 + local.minute


def window_intervals(window: AvailabilityWindow) -> list[tuple[int, int]]:
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


def is_eligible(
    profile: ScoringProfile, event: ScoringEvent, distance_km: float | None, *, now: datetime
) -> bool:
    """The SPEC's eligibility. `distance_km` is home→venue (None when there is no venue).

    A series is available when one of its occurrences in the feed's window that has not
    ended falls in an availability window (`availability_starts`); the weekly cap then
    leaves the others out of the feed.
    """
    return _match_mode(profile, event, distance_km, now) is not None


def _match_mode(
    profile: ScoringProfile, event: ScoringEvent, distance_km: float | None, now: datetime
) -> str | None:
    """'in_person', 'online' or 'both' when eligible (how the distance component is
    earned). The rules are `shared.match_rules`'; here they get one pair's values."""
    if event.status != "scheduled" or is_over(event, now) or event.id in profile.hidden_event_ids:
        return None
    highest = rules.highest_intensity(profile.comfort_level, profile.open_to_stretch)
    if not rules.comfort_allows(event.intensity, highest):
        return None
    shares_a_tag = any(tag in profile.interests for tag in event.tags)
    if not rules.interests_allow(bool(profile.interests), shares_a_tag):
        return None
    has_limit = profile.max_cost_cents is not None
    max_cost = profile.max_cost_cents or 0
    same_currency = event.currency == profile.currency
    if not rules.cost_allows(event.cost_cents, has_limit, max_cost, same_currency):
        return None
    share_one = bool(set(profile.languages) & set(event.languages))
    if not rules.languages_allow(bool(event.languages), bool(profile.languages), share_one):
        return None
    if not set(profile.accessibility_needs) <= set(event.accessibility):
        return None
    starts = availability_starts(event, profile.timezone, now) if profile.availability else []
    in_a_window = any(available_at(profile, start) for start in starts)
    if not rules.availability_allows(bool(profile.availability), in_a_window):
        return None
    in_person = rules.meets_in_person(
        rules.offers_in_person(event.format),
        "in_person" in profile.formats,
        math.nan if distance_km is None else distance_km,
        profile.radius_km,
    )
    online = rules.meets_online(rules.offers_online(event.format), "online" in profile.formats)
    if in_person and online:
        return "both"
    return "in_person" if in_person else "online" if online else None


def score_pair(
    profile: ScoringProfile, event: ScoringEvent, distance_km: float | None, *, now: datetime
) -> PairScore | None:
    """The parts of an eligible pair; None when not eligible. `distance_km` is home to
    venue (None when there is no venue)."""
    mode = _match_mode(profile, event, distance_km, now)
    if mode is None:
        return None
    shared = tuple(t for t in dict.fromkeys(event.tags) if t in profile.interests)
    return PairScore(
        event_id=event.id,
        distance_km=distance_km if mode in ("in_person", "both") else None,
        online=mode in ("online", "both"),
        interest=interest_score(event.tags, profile.interests),
        comfort_gap=rules.comfort_gap(profile.comfort_level, event.intensity),
        explanation=explanation(event, shared),
        support=support_score(profile.seeking, event.support),
    )


def support_score(seeking: Sequence[str], support: Sequence[str]) -> float | None:
    """The support component, or None when it is left out of the mean."""
    wanted, given = set(seeking), set(support)
    score: float = rules.support_score(len(wanted & given), len(wanted), len(given))
    return None if score == rules.NOT_COUNTED else score


def describe_event(event: ScoringEvent) -> str:
    """The pair-independent part of the explanation: the group and the cost."""
    adjectives = [
        _SIZE_WORDS[rules.size_level(event.group_size)],
        _NOISE_WORDS.get(event.noise, ""),
    ]
    adjectives.append(_STRUCTURE_WORDS.get(event.structure, event.structure))
    parts = [", ".join(a for a in adjectives if a) + " group"]
    if event.talking_optional:
        parts.append("talking optional")
    if event.newcomer_support:
        parts.append("newcomers welcomed")
    return ", ".join(parts) + " · " + describe_cost(event.cost_cents, event.currency)


def describe_cost(cost_cents: int, currency: str) -> str:
    """'free', '€5', '€5.50', '12 CHF' (two minor digits assumed, as `cost_cents` says)."""
    if cost_cents == 0:
        return "free"
    amount = f"{cost_cents // 100}" if cost_cents % 100 == 0 else f"{cost_cents / 100:.2f}"
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def describe_tags(tags: tuple[str, ...]) -> str:
    return ", ".join(tag.replace("-", " ") for tag in tags)


def explanation(event: ScoringEvent, shared_tags: tuple[str, ...]) -> str:
    """'board games · small, structured group, newcomers welcomed · free' (no distance)."""
    event_part = describe_event(event)
    return f"{describe_tags(shared_tags)} · {event_part}" if shared_tags else event_part


def format_distance(distance_km: float | None) -> str:
    """'1.8 km away' under 10 km, '12 km away' beyond, 'online' for online matches."""
    if distance_km is None:
        return "online"
    tenths = math.floor(distance_km * 10 + 0.5)
    if tenths < 100:
        return f"{tenths // 10}.{tenths % 10} km away"
    return f"{math.floor(distance_km + 0.5)} km away"


def with_distance(explanation_text: str, distance_km: float | None) -> str:
    """The distance first, then the stored (feed) text."""
    return f"{format_distance(distance_km)} · {explanation_text}"


def api_explanation(
    explanation_text: str,
    distance_km: float | None,
    seeking: Sequence[str],
    support: Sequence[str],
) -> str:
    """The API's explanation: the distance, the stored (feed) text, then the support the
    user would like that the event gives, in plain words (never in the feed: it would tell
    what the user seeks)."""
    text = with_distance(explanation_text, distance_km)
    words = shared_support_words(seeking, support)
    return text if words is None else f"{text} · {words} on offer"


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
    kept: list[CappedMatch] = []
    for event, _ in sorted(matches, key=lambda m: (-m[1], m[0].id)):
        starts = occurrence_starts(event, window.start, window.end)
        by_week: dict[int, list[datetime]] = {}
        for start in starts:
            if not profile.availability or available_at(profile, start):
                week = (start.astimezone(week_zone).date() - monday).days // 7
                by_week.setdefault(week, []).append(start)
        won = [week for week in by_week if taken.get(week, 0) < profile.max_events_per_week]
        for week in won:
            taken[week] = taken.get(week, 0) + 1
        shown = sorted(start for week in won for start in by_week[week])
        if shown:
            kept.append(_as_shown(event, starts, shown, window_until))
    return kept


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
