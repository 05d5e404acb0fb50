"""The bulk scorer gives what `score_pair` gives, pair by pair, on random cities."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.city import build_city
from shared.bulk_scoring import EVENTS_PER_BATCH, Matches, prepare, score_all, score_chunk
from shared.bulk_tables import _words
from shared.geodesy import distance_km
from shared.match_rules import intensity
from shared.models.support import SUPPORT_KINDS
from shared.occurrences import WEEKDAYS, WeeklyWindow
from shared.scoring import PairScore, ScoringEvent, ScoringProfile, score_pair
from shared.timeutil import Refusal, stored_schedule


def per_pair(
    events: list[ScoringEvent], profiles: list[ScoringProfile], now
) -> dict[tuple[int, int], PairScore]:
    out = {}
    for p in profiles:
        for e in events:
            km = None if e.lat is None else distance_km(p.home_lat, p.home_lon, e.lat, e.lon)
            r = score_pair(p, e, km, now=now)
            if r is not None:
                out[p.id, e.id] = r
    return out


def as_dict(m: Matches) -> dict[tuple[int, int], tuple]:
    texts = m.explanations()
    return {
        (int(m.profile_id[i]), int(m.event_id[i])): (
            None if np.isnan(m.distance_km[i]) else m.distance_km[i],
            bool(m.online[i]),
            m.interest[i],
            int(m.comfort_gap[i]),
            texts[i],
            float(m.support[i]),
        )
        for i in range(len(m))
    }


def assert_same(bulk: dict, pairs: dict) -> None:
    assert bulk.keys() == pairs.keys()
    for key, r in pairs.items():
        km, online, interest, gap, text, support = bulk[key]
        assert (online, gap) == (r.online, r.comfort_gap), key
        # Both paths run the same rules in the same order: equal to the bit.
        assert support == (-1.0 if r.support is None else r.support), key
        assert interest == r.interest, key
        assert (km is None) == (r.distance_km is None), key
        if km is not None:
            assert km == pytest.approx(r.distance_km, abs=1e-6)
        assert text == r.explanation


@pytest.mark.parametrize("seed", [1, 2])
def test_bulk_equals_per_pair_on_a_random_city(seed: int) -> None:
    city = build_city(250, 100, seed=seed)
    # Shrink the city so most pairs are within reach and every rule gets exercised.
    profiles = [
        msgspec.structs.replace(p, radius_km=p.radius_km * 4) if p.id % 3 == 0 else p
        for p in city.profiles
    ]
    bulk = score_all(city.events, profiles, now=city.now)
    expected = per_pair(city.events, profiles, city.now)
    assert len(expected) > 100
    assert_same(as_dict(bulk), expected)


def test_bulk_honours_hidden_events_and_time() -> None:
    city = build_city(150, 50, seed=9)
    later = city.now + timedelta(days=20)
    target = city.events[0]
    profiles = [
        msgspec.structs.replace(p, hidden_event_ids=frozenset({target.id}), radius_km=40)
        for p in city.profiles
    ]
    bulk = as_dict(score_all(city.events, profiles, now=later))
    assert not any(event_id == target.id for _, event_id in bulk)
    assert_same(bulk, per_pair(city.events, profiles, later))


def test_chunks_add_up_to_the_whole() -> None:
    city = build_city(500, 90, seed=4)
    prepared = prepare(city.events, city.profiles, now=city.now)
    whole = as_dict(score_chunk(prepared))
    parts: dict = {}
    for start in range(0, len(prepared.events.ids), 25):
        parts |= as_dict(score_chunk(prepared, start, start + 25))
    assert parts.keys() == whole.keys()
    half = len(city.profiles) // 2
    by_profiles = as_dict(score_all(city.events, city.profiles[:half], now=city.now))
    by_profiles |= as_dict(score_all(city.events, city.profiles[half:], now=city.now))
    assert by_profiles.keys() == whole.keys()


def test_set_bitmasks_span_several_words() -> None:
    vocab = {f"t{i}": i for i in range(130)}
    words = _words([["t0", "t64", "t129"], [], ["t63", "nope"]], vocab, unknown=65)
    assert words.shape == (3, 3) and words.dtype == np.uint64
    assert words[:, 0].tolist() == [1, 1, 1 << 1]
    assert words[:, 1].tolist() == [0, 0, 0]
    assert words[:, 2].tolist() == [1 << 63, 1 << 1, 0]  # "nope" sets the unknown bit 65


def test_many_events_and_an_event_with_many_tags() -> None:
    # More events than one batch, and one event sharing 20 tags (its explanation keys
    # take the wide path).
    city = build_city(120, 450, seed=7)
    tags = sorted({t for p in city.profiles for t in p.interests})[:20]
    events = [msgspec.structs.replace(city.events[0], tags=tags), *city.events[1:]]
    profiles = [msgspec.structs.replace(p, radius_km=p.radius_km * 3) for p in city.profiles]
    bulk = as_dict(score_all(events, profiles, now=city.now))
    assert len(events) > EVENTS_PER_BATCH
    assert any(event_id == events[0].id for _, event_id in bulk)
    assert_same(bulk, per_pair(events, profiles, city.now))


def test_series_availability_over_the_window_in_several_zones() -> None:
    # Series on several weekdays (the next occurrence is often outside a window, a later
    # one inside), and profiles in zones whose clocks change on other dates than the
    # events' (a weekly 19:00 in Berlin is two different minutes of the week in New York).
    city = build_city(200, 60, seed=11)
    rules = ("FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=DAILY;COUNT=9", "FREQ=WEEKLY;INTERVAL=3;BYDAY=SA")
    events = [
        msgspec.structs.replace(
            e,
            recurrence=rules[e.id % 3] if e.id % 2 else e.recurrence,
            over_at=None if e.id % 2 else e.over_at,
        )
        for e in city.events
    ]
    zones = ("America/New_York", "Europe/London", city.profiles[0].timezone, "Asia/Tokyo")
    profiles = [
        msgspec.structs.replace(p, timezone=zones[p.id % 4], radius_km=p.radius_km * 3)
        for p in city.profiles
    ]
    assert sum(bool(p.availability) for p in profiles) > 50
    # Near a change of the clocks, so a series' minutes of the week differ within 12 weeks.
    for now in (city.now, city.now + timedelta(days=40)):
        bulk = as_dict(score_all(events, profiles, now=now))
        expected = per_pair(events, profiles, now)
        assert len(expected) > 200
        assert_same(bulk, expected)


def test_support_is_counted_only_when_sought_and_declared() -> None:
    # Every kind of mix: nothing sought, nothing declared, some shared, none shared.
    city = build_city(150, 60, seed=5)
    kinds = ("emotional", "practical", "informational", "companionship")
    rng = np.random.default_rng(3)

    def some() -> tuple[str, ...]:
        return tuple(k for k in kinds if rng.random() < 0.4)

    events = [msgspec.structs.replace(e, support=some()) for e in city.events]
    profiles = [
        msgspec.structs.replace(p, seeking=some(), radius_km=p.radius_km * 3) for p in city.profiles
    ]
    bulk = as_dict(score_all(events, profiles, now=city.now))
    expected = per_pair(events, profiles, city.now)
    assert_same(bulk, expected)
    values = {r.support for r in expected.values()}
    assert None in values and 0.0 in values and 1.0 in values and len(values) > 4


# -- every field a rule reads, drawn ------------------------------------------------------

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)  # between the US and the EU clock changes
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC")
TAGS = ("board-games", "chess", "walking", "tea", "film")
LANGUAGES = ("de", "en", "fr")
ACCESS = ("step_free", "wheelchair", "quiet_room")
BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def subset(values: tuple[str, ...]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(values), unique=True).map(tuple)


def mostly(value: object, other: st.SearchStrategy) -> st.SearchStrategy:
    """`value` about two times in three: eligibility is a conjunction of a dozen rules, and
    a pair must pass all but one for that one to decide."""
    return st.one_of(st.just(value), st.just(value), other)


# Homes and venues a few km apart, so radii from under 1 km to 30 km cut through them.
lats = st.floats(51.30, 51.38)
lons = st.floats(12.30, 12.44)
wall_clock = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 59]))
windows = st.builds(
    WeeklyWindow,
    st.lists(st.sampled_from(WEEKDAYS), min_size=1, unique=True).map(tuple),
    wall_clock,
    wall_clock,  # at or before `from`: past midnight
)


@st.composite
def scoring_events(draw: st.DrawFn, event_id: int) -> ScoringEvent:
    tz = draw(st.sampled_from(ZONES))
    day = NOW.date() + timedelta(days=draw(st.integers(-20, 50)))
    starts_at = datetime.combine(day, draw(wall_clock))
    ends_at = starts_at + timedelta(minutes=draw(st.sampled_from([30, 90, 240])))
    weekday = BYDAY[starts_at.weekday()]
    recurrence = draw(
        st.sampled_from(
            [
                None,
                f"FREQ=WEEKLY;BYDAY={weekday}",
                f"FREQ=WEEKLY;BYDAY={weekday};COUNT=3",
                f"FREQ=WEEKLY;INTERVAL=2;BYDAY={weekday},SA",
                "FREQ=DAILY;COUNT=4",
            ]
        )
    )
    found = stored_schedule(event_id, starts_at, ends_at, tz, recurrence, NOW)
    fmt = draw(st.sampled_from(["in_person", "online", "hybrid"]))
    online_only = fmt == "online"
    size = draw(st.sampled_from([3, 6, 7, 12, 13, 25, 26, 60, 61, 200]))
    structure = draw(st.sampled_from(["structured", "semi", "open"]))
    noise = draw(st.sampled_from(["quiet", "moderate", "loud"]))
    talking, newcomers = draw(st.booleans()), draw(st.booleans())
    return ScoringEvent(
        id=event_id,
        format=fmt,
        lat=None if online_only else draw(lats),
        lon=None if online_only else draw(lons),
        tags=draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=4, unique=True).map(tuple)),
        intensity=intensity(size, structure == "open", noise == "loud", talking, newcomers),
        group_size=size,
        structure=structure,
        noise=noise,
        talking_optional=talking,
        newcomer_support=newcomers,
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=tz,
        recurrence=recurrence,
        over_at=None if isinstance(found, Refusal) else found.over_at(),
        status=draw(mostly("scheduled", st.just("cancelled"))),
        cost_cents=draw(st.sampled_from([0, 300, 500, 501, 2000])),
        currency=draw(st.sampled_from(["EUR", "EUR", "GBP"])),
        languages=draw(subset(LANGUAGES)),
        accessibility=draw(subset(ACCESS)),
        support=draw(subset(SUPPORT_KINDS)),
    )


@st.composite
def scoring_profiles(draw: st.DrawFn, profile_id: int, event_ids: list[int]) -> ScoringProfile:
    limit = draw(mostly(None, st.sampled_from([0, 300, 500, 1000])))
    return ScoringProfile(
        id=profile_id,
        home_lat=draw(lats),
        home_lon=draw(lons),
        radius_km=draw(st.sampled_from([0.5, 5.0, 12.0, 30.0]) | st.floats(0.1, 30)),
        interests=draw(st.dictionaries(st.sampled_from(TAGS), st.floats(0.01, 1.0), max_size=4)),
        comfort_level=draw(mostly(5, st.integers(1, 4))),
        open_to_stretch=draw(st.booleans()),
        formats=draw(st.sampled_from([("in_person",), ("online",), ("in_person", "online")])),
        max_cost_cents=limit,
        currency=None if limit is None else draw(st.sampled_from(["EUR", "GBP", "USD"])),
        languages=draw(mostly((), subset(LANGUAGES))),
        # "hearing_loop" is offered by no event.
        accessibility_needs=draw(mostly((), subset((*ACCESS[:2], "hearing_loop")))),
        availability=draw(mostly((), st.lists(windows, min_size=1, max_size=2).map(tuple))),
        timezone=draw(st.sampled_from(ZONES)),
        seeking=draw(subset(SUPPORT_KINDS)),
        hidden_event_ids=draw(mostly(frozenset(), st.frozensets(st.sampled_from(event_ids)))),
    )


@st.composite
def small_cities(draw: st.DrawFn) -> tuple[list[ScoringEvent], list[ScoringProfile]]:
    n_events = draw(st.integers(1, 8))
    events = [draw(scoring_events(event_id)) for event_id in range(1, n_events + 1)]
    ids = [e.id for e in events]
    n_profiles = draw(st.integers(1, 8))
    return events, [draw(scoring_profiles(100 + i, ids)) for i in range(n_profiles)]


@settings(max_examples=100, deadline=None)
@given(small_cities(), st.sampled_from([timedelta(0), timedelta(days=9, hours=13)]))
def test_bulk_equals_per_pair_whatever_the_fields(
    city: tuple[list[ScoringEvent], list[ScoringProfile]], later: timedelta
) -> None:
    events, profiles = city
    now = NOW + later
    assert_same(as_dict(score_all(events, profiles, now=now)), per_pair(events, profiles, now))
