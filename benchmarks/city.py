"""The benchmark city, generated deterministically from a seed: 100 000 profiles and
5 000 events in a 50 by 50 km area, as scoring Structs (plus titles for a demo).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from shared.match_rules import intensity
from shared.occurrences import WeeklyWindow
from shared.scoring import ScoringEvent, ScoringProfile

CENTRE = (51.340, 12.375)  # a Leipzig-sized city
SIDE_KM = 50.0
TIMEZONE = "Europe/Berlin"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TAGS = (
    "board-games", "book-club", "walking", "knitting", "chess", "gardening", "volunteering",
    "support-group", "meditation", "yoga", "language-exchange", "crafts", "cooking",
    "photography", "birdwatching", "history", "film", "music", "choir", "drawing",
    "writing", "poetry", "science", "coding", "repair-cafe", "library", "museum", "hiking",
    "cycling", "swimming", "dance", "theatre", "puzzles", "tabletop-rpg", "quiz", "tea",
    "parenting", "pets", "nature", "mindfulness",
)  # fmt: skip
ACCESS = ("step_free", "wheelchair", "quiet_room", "transit_nearby")
_KINDS = ("meet-up", "circle", "evening", "session", "afternoon")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_EVENINGS = WeeklyWindow(("mon", "tue", "wed", "thu", "fri"), time(17), time(22))
_WEEKENDS = WeeklyWindow(("sat", "sun"), time(9), time(21))
_AVAILABILITY = ((), (_EVENINGS, _WEEKENDS), (_EVENINGS,), (_WEEKENDS,))


class City(msgspec.Struct, frozen=True):
    now: datetime
    events: list[ScoringEvent]
    profiles: list[ScoringProfile]
    titles: dict[int, str]  # event id -> a plausible title


def _points(rng: np.random.Generator, n: int, clustered: float, spread_km: float) -> np.ndarray:
    """(n, 2) lat/lon: `clustered` of them around a dozen district centres, the rest anywhere."""
    half = SIDE_KM / 2
    districts = np.random.default_rng(1).uniform(-half * 0.7, half * 0.7, (12, 2))
    near = rng.random(n) < clustered
    km = np.where(
        near[:, None],
        districts[rng.integers(0, 12, n)] + rng.normal(0, spread_km, (n, 2)),
        rng.uniform(-half, half, (n, 2)),
    ).clip(-half, half)
    lat = CENTRE[0] + km[:, 1] / 111.2
    lon = CENTRE[1] + km[:, 0] / (111.32 * math.cos(math.radians(CENTRE[0])))
    return np.column_stack([lat, lon]).round(5)


def _tag_sets(
    rng: np.random.Generator, n: int, mean: float, low: int, high: int
) -> list[list[str]]:
    """Tag sets with Zipf-like popularity, sampled without replacement (Gumbel top-k)."""
    popularity = 1.0 / (np.arange(len(TAGS)) + 10.0)
    keys = np.log(popularity) + rng.gumbel(size=(n, len(TAGS)))
    ranked = np.argsort(-keys, axis=1)[:, :high].tolist()
    sizes = np.clip(rng.poisson(mean, n), low, high).tolist()
    return [[TAGS[t] for t in row[:k]] for row, k in zip(ranked, sizes, strict=True)]


def build_events(
    n: int, rng: np.random.Generator, now: datetime
) -> tuple[list[ScoringEvent], dict[int, str]]:
    tz = ZoneInfo(TIMEZONE)
    where = _points(rng, n, clustered=0.8, spread_km=2.5)
    tags = _tag_sets(rng, n, 3, 1, 6)
    size = np.clip(np.exp(rng.normal(math.log(12), 0.9, n)), 2, 300).astype(int)
    structure = rng.choice(("structured", "semi", "open"), n, p=(0.6, 0.3, 0.1))
    noise = rng.choice(("quiet", "moderate", "loud"), n, p=(0.45, 0.45, 0.1))
    fmt = rng.choice(("in_person", "online", "hybrid"), n, p=(0.93, 0.03, 0.04))
    events, titles = [], {}
    for i in range(n):
        eid = i + 1
        day = now.astimezone(tz).date() + timedelta(days=int(rng.integers(-10, 56)))
        start = datetime.combine(day, time(int(rng.integers(10, 21)), int(rng.choice((0, 30)))))
        end = start + timedelta(minutes=int(rng.choice((60, 90, 120, 180))))
        kind = rng.random()
        recurrence = None
        if kind < 0.35:
            count = int(rng.choice((0, 8, 12)))
            interval = ";INTERVAL=2" if rng.random() < 0.2 else ""
            by_day = _WEEKDAYS[start.weekday()]
            recurrence = f"FREQ=WEEKLY{interval};BYDAY={by_day}" + (
                f";COUNT={count}" if count else ""
            )
        over_at = _over_at(start, end, recurrence, tz)
        talking, newcomers = bool(rng.random() < 0.4), bool(rng.random() < 0.5)
        paid = rng.random() < 0.35
        events.append(
            ScoringEvent(
                id=eid,
                format=str(fmt[i]),
                lat=None if fmt[i] == "online" else float(where[i, 0]),
                lon=None if fmt[i] == "online" else float(where[i, 1]),
                tags=tuple(tags[i]),
                intensity=intensity(
                    int(size[i]),
                    bool(structure[i] == "open"),
                    bool(noise[i] == "loud"),
                    talking,
                    newcomers,
                ),
                group_size=int(size[i]),
                structure=str(structure[i]),
                noise=str(noise[i]),
                talking_optional=talking,
                newcomer_support=newcomers,
                starts_at=start,
                ends_at=end,
                timezone=TIMEZONE,
                recurrence=recurrence,
                over_at=over_at,
                status="cancelled" if rng.random() < 0.02 else "scheduled",
                cost_cents=int(rng.choice((300, 500, 800, 1000, 1500))) if paid else 0,
                currency="CZK" if rng.random() < 0.01 else "EUR",
                languages=(("de",), ("de", "en"), ("en",))[rng.choice(3, p=(0.85, 0.1, 0.05))],
                accessibility=tuple(
                    a for a, p in zip(ACCESS, (0.6, 0.4, 0.2, 0.7), strict=True) if rng.random() < p
                ),
            )
        )
        titles[eid] = f"{tags[i][0].replace('-', ' ').capitalize()} {_KINDS[i % len(_KINDS)]}"
    return events, titles


def _over_at(
    start: datetime, end: datetime, recurrence: str | None, tz: ZoneInfo
) -> datetime | None:
    if recurrence is None:
        return end.replace(tzinfo=tz).astimezone(UTC)
    if "COUNT=" not in recurrence:
        return None
    count = int(recurrence.split("COUNT=")[1])
    weeks = 2 if "INTERVAL=2" in recurrence else 1
    return (end + timedelta(weeks=weeks * (count - 1))).replace(tzinfo=tz).astimezone(UTC)


def build_profiles(n: int, rng: np.random.Generator, n_events: int) -> list[ScoringProfile]:
    where = _points(rng, n, clustered=0.7, spread_km=3.5).round(3)  # homes are kept to 3 places
    tags = _tag_sets(rng, n, 5, 2, 9)
    radius = (np.clip(np.exp(rng.normal(math.log(5), 0.6, n)), 1, 25) * 2).round() / 2
    comfort = rng.choice(5, n, p=(0.25, 0.3, 0.25, 0.12, 0.08)) + 1
    formats = (("in_person", "online"), ("in_person",), ("online",))
    needs = ((), ("step_free",), ("step_free", "wheelchair"), ("quiet_room",))
    no_interests = (rng.random(n) < 0.04).tolist()
    weights = (rng.integers(4, 11, (n, 9)) / 10).tolist()
    cost = rng.choice(3, n, p=(0.6, 0.2, 0.2)).tolist()
    stretch = (rng.random(n) < 0.5).tolist()
    fmt = rng.choice(3, n, p=(0.45, 0.5, 0.05)).tolist()
    lang = rng.choice(3, n, p=(0.65, 0.25, 0.10)).tolist()
    need = rng.choice(4, n, p=(0.89, 0.06, 0.03, 0.02)).tolist()
    avail = rng.choice(4, n, p=(0.4, 0.3, 0.18, 0.12)).tolist()
    per_week = rng.integers(1, 6, n).tolist()
    hides = (rng.random(n) < 0.01).tolist()
    hidden = rng.integers(1, n_events + 1, (n, 3)).tolist()
    lat, lon, km = where[:, 0].tolist(), where[:, 1].tolist(), radius.tolist()
    levels = comfort.tolist()
    return [
        ScoringProfile(
            id=i + 1,
            home_lat=lat[i],
            home_lon=lon[i],
            radius_km=km[i],
            interests={} if no_interests[i] else dict(zip(tags[i], weights[i], strict=False)),
            comfort_level=levels[i],
            open_to_stretch=stretch[i],
            formats=formats[fmt[i]],
            max_cost_cents=(None, 0, 1000)[cost[i]],
            currency=None if cost[i] == 0 else "EUR",
            languages=((), ("de",), ("en",))[lang[i]],
            accessibility_needs=needs[need[i]],
            availability=_AVAILABILITY[avail[i]],
            timezone=TIMEZONE,
            max_events_per_week=per_week[i],
            hidden_event_ids=frozenset(hidden[i]) if hides[i] else frozenset(),
        )
        for i in range(n)
    ]


def build_city(
    n_profiles: int = 100_000, n_events: int = 5_000, *, seed: int = 2026, now: datetime = NOW
) -> City:
    """The same city for the same arguments, on every machine."""
    rng = np.random.default_rng(seed)
    events, titles = build_events(n_events, rng, now)
    return City(now, events, build_profiles(n_profiles, rng, n_events), titles)
