"""The bulk scorer gives what `score_pair` gives, pair by pair, on random cities."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import numpy as np
import pytest

from benchmarks.city import build_city
from shared.bulk_scoring import EVENTS_PER_BATCH, Matches, prepare, score_all, score_chunk
from shared.bulk_tables import _words
from shared.geodesy import distance_km
from shared.scoring import PairScore, ScoringEvent, ScoringProfile, score_pair


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
        assert support == (-1.0 if r.support is None else pytest.approx(r.support)), key
        assert interest == pytest.approx(r.interest, abs=1e-9), key
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
