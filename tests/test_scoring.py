"""The SPEC's matching rules, value by value and as properties (pure; no database)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.explanations import explanation, with_distance
from shared.match_rules import intensity
from shared.occurrences import (
    CappedMatch,
    WeeklyWindow,
    availability_from_wire,
    feed_window,
    next_occurrence_start,
    weekly_cap,
)
from shared.scoring import (
    ScoringEvent,
    ScoringProfile,
    Weights,
    interest_score,
    is_eligible,
    support_score,
)
from tests.weighing import comfort_score, distance_score, scored, weighted_score

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
W = Weights()


def event(**changes: Any) -> ScoringEvent:
    base = ScoringEvent(
        id=1,
        format="in_person",
        lat=51.34,
        lon=12.37,
        tags=("board-games",),
        intensity=1,
        group_size=8,
        structure="structured",
        noise="moderate",
        talking_optional=False,
        newcomer_support=True,
        starts_at=datetime(2026, 3, 4, 19, 0),
        ends_at=datetime(2026, 3, 4, 21, 0),
        timezone="Europe/Berlin",
    )
    return msgspec.structs.replace(base, **changes)


def profile(**changes: Any) -> ScoringProfile:
    base = ScoringProfile(
        id=7,
        home_lat=51.33,
        home_lon=12.36,
        radius_km=5.0,
        interests={"board-games": 0.8},
        comfort_level=2,
        timezone="Europe/Berlin",
    )
    return msgspec.structs.replace(base, **changes)


# -- formulas, by hand ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "structure", "noise", "talking", "newcomers", "expected"),
    [
        (6, "structured", "quiet", False, False, 1),
        (7, "structured", "quiet", False, False, 2),
        (12, "semi", "moderate", False, False, 2),
        (25, "structured", "quiet", False, False, 3),
        (60, "structured", "quiet", False, False, 4),
        (61, "structured", "quiet", False, False, 5),
        (61, "open", "loud", False, False, 5),  # clamped
        (4, "structured", "quiet", True, True, 1),  # clamped
        (20, "open", "loud", True, False, 4),
        (8, "structured", "moderate", False, True, 1),
    ],
)
def test_intensity_table(
    size: int, structure: str, noise: str, talking: bool, newcomers: bool, expected: int
) -> None:
    assert intensity(size, structure == "open", noise == "loud", talking, newcomers) == expected
    # The same rule on columns, as the bulk scorer would read it.
    column = intensity(
        np.array([size, 30]),
        np.array([structure == "open", False]),
        np.array([noise == "loud", False]),
        np.array([talking, False]),
        np.array([newcomers, False]),
    )
    assert column.tolist() == [expected, 4]


def test_default_weights_are_the_specs() -> None:
    # distance, interest, comfort, decay, online, stretch, min_score, support, together_bonus
    assert msgspec.structs.astuple(W) == (1, 1, 1, 5, 0.6, 0.4, 0.3, 1, 0.1)


def test_interest_is_noisy_or_of_shared_tags() -> None:
    interests = {"a": 0.5, "b": 0.4, "z": 1.0}
    assert interest_score(("a", "b", "c"), interests) == pytest.approx(1 - 0.5 * 0.6)
    assert interest_score(("c",), interests) == 0
    assert interest_score(("a",), {}) == 0.5


def test_comfort_component() -> None:
    assert comfort_score(3 - 1, W) == pytest.approx(0.8)
    assert comfort_score(3 - 3, W) == 1.0
    assert comfort_score(3 - 4, W) == pytest.approx(0.6)  # stretch: 1 - 0.4


def test_distance_decay_and_weighted_mean() -> None:
    assert distance_score(5.0, W) == pytest.approx(math.exp(-1))
    assert distance_score(0.0, W) == 1.0
    assert weighted_score(0.3, 0.6, 0.9, W) == pytest.approx(0.6)
    skewed = Weights(distance=2, interest=1, comfort=0)
    assert weighted_score(0.3, 0.6, 0.9, skewed) == pytest.approx(0.4)


def test_score_pair_by_hand() -> None:
    result = scored(profile(), event(), W, 1.84, now=NOW)
    assert result is not None
    d, i, c = math.exp(-1.84 / 5), 0.8, 0.9
    assert (result.distance, result.interest, result.comfort) == pytest.approx((d, i, c))
    assert result.score == pytest.approx((d + i + c) / 3)
    assert result.distance_km == 1.84
    assert result.explanation == "board games · small, structured group, newcomers welcomed · free"
    assert with_distance(result.explanation, 1.84) == (
        "1.8 km away · board games · small, structured group, newcomers welcomed · free"
    )


def test_explanation_parts() -> None:
    text = explanation(event(noise="quiet", cost_cents=550, talking_optional=True), ())
    assert text == "small, quiet, structured group, talking optional, newcomers welcomed · €5.50"
    assert explanation(event(cost_cents=1200, currency="CHF", newcomer_support=False), ()) == (
        "small, structured group · 12 CHF"
    )
    assert with_distance("x", 12.6) == "13 km away · x"
    assert with_distance("x", 9.96) == "10 km away · x"
    assert with_distance("x", 0.04) == "0.0 km away · x"
    assert with_distance("x", None) == "online · x"


def test_below_min_score_is_no_match() -> None:
    # 25 km away, a stretch, weak interest: (e^-5 + 0.1 + 0.6) / 3 = 0.2356
    far = profile(
        radius_km=30, interests={"board-games": 0.1}, comfort_level=1, open_to_stretch=True
    )
    stretch = event(intensity=2)
    assert scored(far, stretch, Weights(min_score=0.236), 25, now=NOW) is None
    result = scored(far, stretch, Weights(min_score=0.235), 25, now=NOW)
    assert result is not None and result.score == pytest.approx((math.exp(-5) + 0.7) / 3)


def test_hybrid_takes_the_better_of_in_person_and_online() -> None:
    hybrid = event(format="hybrid")
    near = scored(profile(), hybrid, W, 1.0, now=NOW)
    far = scored(profile(), hybrid, W, 4.0, now=NOW)
    outside = scored(profile(), hybrid, W, 9.0, now=NOW)
    assert near and near.distance_km == 1.0 and near.distance == pytest.approx(math.exp(-0.2))
    assert far and far.distance_km is None and far.distance == 0.6
    assert outside and outside.distance_km is None
    in_person_only = profile(formats=("in_person",))
    assert scored(in_person_only, hybrid, W, 9.0, now=NOW) is None
    assert scored(in_person_only, hybrid, W, 4.0, now=NOW).distance_km == 4.0  # type: ignore[union-attr]


def test_online_event_needs_online_accepted() -> None:
    online = event(format="online", lat=None, lon=None)
    assert scored(profile(), online, W, None, now=NOW).distance == 0.6  # type: ignore[union-attr]
    assert not is_eligible(profile(formats=("in_person",)), online, None, now=NOW)


def test_free_event_in_another_currency_is_not_a_cost() -> None:
    limited = profile(max_cost_cents=500, currency="EUR")
    assert is_eligible(limited, event(cost_cents=0, currency="GBP"), 1, now=NOW)
    assert is_eligible(limited, event(cost_cents=500), 1, now=NOW)
    assert not is_eligible(limited, event(cost_cents=501), 1, now=NOW)
    assert not is_eligible(limited, event(cost_cents=100, currency="GBP"), 1, now=NOW)
    assert is_eligible(profile(), event(cost_cents=9999, currency="GBP"), 1, now=NOW)


# -- availability -------------------------------------------------------------------------


def test_availability_window_edges() -> None:
    # The event is Wednesday 19:00 Berlin; windows are in the profile's zone.
    wed = availability_from_wire([{"days": ["wed"], "from": "19:00", "to": "21:00"}])
    ending = availability_from_wire([{"days": ["wed"], "from": "17:00", "to": "19:00"}])
    assert is_eligible(profile(availability=wed), event(), 1, now=NOW)  # from is inclusive
    assert not is_eligible(profile(availability=ending), event(), 1, now=NOW)  # to exclusive
    london = profile(availability=ending, timezone="Europe/London")  # 18:00 there
    assert is_eligible(london, event(), 1, now=NOW)
    thu = availability_from_wire([{"days": ["thu"], "from": "00:00", "to": "23:59"}])
    assert not is_eligible(profile(availability=thu), event(), 1, now=NOW)


def test_overnight_window_runs_into_the_next_day() -> None:
    late = (WeeklyWindow(("tue",), time(22), time(20)),)  # Tue 22:00 → Wed 20:00
    assert is_eligible(profile(availability=late), event(), 1, now=NOW)


def test_a_series_under_way_is_judged_on_the_occurrence_under_way() -> None:
    series = event(
        starts_at=datetime(2026, 2, 2, 10, 0),  # Mondays 10:00, started in the past
        ends_at=datetime(2026, 2, 2, 12, 0),
        recurrence="FREQ=WEEKLY;BYDAY=MO",
    )
    # NOW is Monday 10:00 Berlin: that occurrence is under way, so it still counts.
    assert next_occurrence_start(series, NOW) == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    mornings = availability_from_wire([{"days": ["mon"], "from": "09:00", "to": "11:00"}])
    assert is_eligible(profile(availability=mornings), series, 1, now=NOW)
    later = NOW + timedelta(hours=3)
    assert next_occurrence_start(series, later) == datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


def test_a_series_is_available_when_any_occurrence_in_the_window_is() -> None:
    # Mondays and Thursdays at 19:00 from 2 March: the next one (Monday) is outside a
    # Thursday-evenings window, a later one in the feed's 12 weeks is inside.
    series = event(
        starts_at=datetime(2026, 3, 2, 19, 0),
        ends_at=datetime(2026, 3, 2, 21, 0),
        recurrence="FREQ=WEEKLY;BYDAY=MO,TH",
    )
    thursdays = availability_from_wire([{"days": ["thu"], "from": "18:00", "to": "22:00"}])
    fridays = availability_from_wire([{"days": ["fri"], "from": "18:00", "to": "22:00"}])
    assert is_eligible(profile(availability=thursdays), series, 1, now=NOW)
    assert not is_eligible(profile(availability=fridays), series, 1, now=NOW)
    # A series that begins after the window is judged on its first occurrence, as a
    # one-off is: listed among the matches before its weeks reach the feed.
    later = event(
        starts_at=datetime(2026, 9, 3, 19, 0),
        ends_at=datetime(2026, 9, 3, 21, 0),
        recurrence="FREQ=WEEKLY;BYDAY=TH",
    )
    assert is_eligible(profile(availability=thursdays), later, 1, now=NOW)


def test_a_series_is_judged_again_as_the_window_moves() -> None:
    # Mondays and Thursdays from Monday 1 June: now (window 2 March to 25 May) none is in
    # the window, so its first (a Monday) decides: no. Eleven weeks on, its Thursdays are
    # in the window: yes.
    series = event(
        starts_at=datetime(2026, 6, 1, 19, 0),
        ends_at=datetime(2026, 6, 1, 21, 0),
        recurrence="FREQ=WEEKLY;BYDAY=MO,TH",
    )
    user = profile(
        availability=availability_from_wire([{"days": ["thu"], "from": "18:00", "to": "22:00"}])
    )
    assert not is_eligible(user, series, 1, now=NOW)
    assert is_eligible(user, series, 1, now=NOW + timedelta(weeks=11))


# -- weekly cap -----------------------------------------------------------------------------


def tuesdays(**changes: Any) -> ScoringEvent:
    """A weekly Tuesday 19:00-21:00 series in Berlin, starting on NOW's Tuesday."""
    fields: dict[str, Any] = {
        "id": 10,
        "starts_at": datetime(2026, 3, 3, 19, 0),
        "ends_at": datetime(2026, 3, 3, 21, 0),
        "recurrence": "FREQ=WEEKLY;BYDAY=TU",
        **changes,
    }
    return event(**fields)


def berlin(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZoneInfo("Europe/Berlin"))


# The window at NOW: Monday 2 March 2026 00:00 Berlin to Monday 25 May (12 weeks).
WINDOW_UNTIL = datetime(2026, 5, 24, 21, 59, 59, tzinfo=UTC)  # 23:59:59 Berlin, CEST


def test_feed_window_is_twelve_weeks_from_the_local_monday() -> None:
    window = feed_window("Europe/Berlin", NOW)
    assert (window.start, window.end) == (berlin(2026, 3, 2), berlin(2026, 5, 25))
    # Sunday 23:30 UTC is already Monday in Berlin: the next week's window.
    sunday_night = datetime(2026, 3, 8, 23, 30, tzinfo=UTC)
    assert feed_window("Europe/Berlin", sunday_night).start == berlin(2026, 3, 9)
    assert feed_window("America/New_York", sunday_night).start.date() == date(2026, 3, 2)


def test_weekly_cap_with_a_series_and_exdates() -> None:
    weekly = tuesdays()
    best_wk2 = event(id=20, starts_at=datetime(2026, 3, 11, 18), ends_at=datetime(2026, 3, 11, 20))
    also_wk2 = event(id=21, starts_at=datetime(2026, 3, 12, 18), ends_at=datetime(2026, 3, 12, 20))
    far = event(id=30, starts_at=datetime(2026, 9, 1, 18), ends_at=datetime(2026, 9, 1, 20))
    one = profile(max_events_per_week=1)
    kept = weekly_cap(one, [(weekly, 0.5), (best_wk2, 0.9), (also_wk2, 0.8), (far, 0.1)], now=NOW)
    assert [m.event_id for m in kept] == [20, 10]  # id 30 lies beyond the window: not shown
    assert kept[0] == CappedMatch(
        event_id=20, starts_at=datetime(2026, 3, 11, 18), shown=(berlin(2026, 3, 11, 18),)
    )
    series = kept[1]
    assert series.starts_at == datetime(2026, 3, 3, 19)
    assert series.until == WINDOW_UNTIL
    assert series.exdates == (datetime(2026, 3, 10, 19, 0),)  # its week-2 Tuesday lost to 20
    assert len(series.shown) == 11 and berlin(2026, 3, 10, 19) not in series.shown
    two = weekly_cap(
        profile(max_events_per_week=2), [(weekly, 0.5), (best_wk2, 0.9), (also_wk2, 0.8)], now=NOW
    )
    assert [m.event_id for m in two] == [20, 21, 10]
    assert two[2].exdates == (datetime(2026, 3, 10, 19, 0),)


def test_weekly_cap_drops_a_short_series_that_misses_every_week() -> None:
    short = tuesdays(recurrence="FREQ=WEEKLY;BYDAY=TU;COUNT=2")
    daily = event(
        id=5,
        starts_at=datetime(2026, 3, 2, 18),
        ends_at=datetime(2026, 3, 2, 19),
        recurrence="FREQ=DAILY",
    )
    kept = weekly_cap(profile(max_events_per_week=1), [(short, 0.4), (daily, 0.9)], now=NOW)
    assert [m.event_id for m in kept] == [5]
    assert kept[0].until == WINDOW_UNTIL and len(kept[0].shown) == 12 * 7


def test_a_series_begun_in_the_past_starts_at_its_first_occurrence_in_the_window() -> None:
    old = tuesdays(starts_at=datetime(2025, 1, 7, 19), ends_at=datetime(2025, 1, 7, 21))
    (kept,) = weekly_cap(profile(), [(old, 0.5)], now=NOW)
    assert kept.starts_at == datetime(2026, 3, 3, 19)
    assert kept.shown[0] == berlin(2026, 3, 3, 19) and kept.shown[-1] == berlin(2026, 5, 19, 19)
    assert kept.until == WINDOW_UNTIL and kept.exdates == ()


def test_a_series_ending_in_the_window_ends_at_its_own_last_occurrence() -> None:
    for rule in ("FREQ=WEEKLY;BYDAY=TU;COUNT=3", "FREQ=WEEKLY;BYDAY=TU;UNTIL=20260317T235959"):
        (kept,) = weekly_cap(profile(), [(tuesdays(recurrence=rule), 0.5)], now=NOW)
        assert kept.until == datetime(2026, 3, 17, 18, 0, tzinfo=UTC), rule
        assert len(kept.shown) == 3


def test_a_first_occurrence_that_misses_the_cap_moves_dtstart_on() -> None:
    weekly = tuesdays()
    better = event(id=20, starts_at=datetime(2026, 3, 5, 18), ends_at=datetime(2026, 3, 5, 20))
    kept = weekly_cap(profile(max_events_per_week=1), [(weekly, 0.5), (better, 0.9)], now=NOW)
    series = next(m for m in kept if m.event_id == 10)
    assert series.starts_at == datetime(2026, 3, 10, 19)  # week 1 went to id 20
    assert series.exdates == ()


def test_occurrences_outside_availability_are_exdates_and_take_no_slot() -> None:
    mondays_and_tuesdays = tuesdays(recurrence="FREQ=WEEKLY;BYDAY=MO,TU", id=10)
    mondays_and_tuesdays = msgspec.structs.replace(
        mondays_and_tuesdays,
        starts_at=datetime(2026, 3, 2, 19),
        ends_at=datetime(2026, 3, 2, 21),
    )
    tuesday_evenings = availability_from_wire([{"days": ["tue"], "from": "18:00", "to": "22:00"}])
    thursday = event(id=20, starts_at=datetime(2026, 3, 5, 19), ends_at=datetime(2026, 3, 5, 21))
    user = profile(max_events_per_week=2, availability=tuesday_evenings)
    kept = weekly_cap(user, [(mondays_and_tuesdays, 0.9), (thursday, 0.5)], now=NOW)
    # The Thursday one-off lies outside every window: not shown, though a slot is free.
    assert [m.event_id for m in kept] == [10]
    (series,) = kept
    assert series.starts_at == datetime(2026, 3, 3, 19)  # the first Monday is outside
    assert all(s.weekday() == 1 for s in series.shown) and len(series.shown) == 12
    assert series.exdates == tuple(datetime(2026, 3, 9, 19) + timedelta(weeks=n) for n in range(11))


def test_this_weeks_ended_occurrences_and_cancelled_events_keep_their_slots() -> None:
    monday_one_off = event(
        id=20, starts_at=datetime(2026, 3, 2, 8), ends_at=datetime(2026, 3, 2, 9)
    )
    cancelled = event(
        id=21,
        starts_at=datetime(2026, 3, 4, 18),
        ends_at=datetime(2026, 3, 4, 20),
        status="cancelled",
    )
    later = event(id=22, starts_at=datetime(2026, 3, 6, 18), ends_at=datetime(2026, 3, 6, 20))
    user = profile(max_events_per_week=2)
    matches = [(monday_one_off, 0.9), (cancelled, 0.8), (later, 0.7)]
    # NOW is Monday 10:00 Berlin: the 08:00 one-off is over, the cancelled one is off.
    for moment in (NOW, NOW + timedelta(days=6, hours=13)):  # ... to Sunday 23:00
        assert [m.event_id for m in weekly_cap(user, matches, now=moment)] == [20, 21]
    # A week on, they belong to a past week: the window has moved past them.
    week_on = NOW + timedelta(weeks=1)
    assert weekly_cap(user, matches, now=week_on) == []


def test_the_cap_is_the_same_all_week_and_moves_with_the_week() -> None:
    user = profile(max_events_per_week=1)
    matches = [(tuesdays(), 0.5), (tuesdays(id=11, recurrence="FREQ=WEEKLY;BYDAY=WE"), 0.4)]
    week = [weekly_cap(user, matches, now=NOW + timedelta(hours=h)) for h in range(0, 6 * 24, 7)]
    assert all(result == week[0] for result in week)
    assert [m.event_id for m in week[0]] == [10]
    moved = weekly_cap(user, matches, now=NOW + timedelta(weeks=1))
    assert moved[0].starts_at == datetime(2026, 3, 10, 19)
    assert moved[0].until == datetime(2026, 5, 31, 21, 59, 59, tzinfo=UTC)


# -- properties -----------------------------------------------------------------------------

events = st.builds(
    event,
    intensity=st.integers(1, 5),
    tags=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=3, unique=True).map(
        tuple
    ),
    format=st.sampled_from(["in_person", "online", "hybrid"]),
    cost_cents=st.sampled_from([0, 300, 1000]),
    currency=st.sampled_from(["EUR", "GBP"]),
    languages=st.sampled_from([(), ("de",), ("en",), ("de", "en")]),
    accessibility=st.sampled_from([(), ("step_free",), ("step_free", "wheelchair")]),
)
profiles = st.builds(
    profile,
    comfort_level=st.integers(1, 5),
    open_to_stretch=st.booleans(),
    interests=st.dictionaries(
        st.sampled_from(["a", "b", "c", "e"]), st.floats(0.01, 1.0), max_size=3
    ),
    radius_km=st.floats(0.5, 30),
    formats=st.sampled_from([("in_person",), ("online",), ("in_person", "online")]),
    max_cost_cents=st.sampled_from([None, 0, 500]),
    currency=st.sampled_from([None, "EUR"]),
    languages=st.sampled_from([(), ("de",), ("en",)]),
    accessibility_needs=st.sampled_from([(), ("step_free",), ("wheelchair",)]),
)
weight_sets = st.builds(
    Weights,
    distance=st.floats(0, 5),
    interest=st.floats(0, 5),
    comfort=st.floats(0.01, 5),
    distance_decay_km=st.floats(0.1, 50),
    online_score=st.floats(0, 1),
    stretch_penalty=st.floats(0, 1),
    min_score=st.floats(0, 1),
)
kms = st.floats(0, 40)


@given(profiles, events, weight_sets, kms)
def test_scores_and_components_lie_in_unit_interval(
    p: ScoringProfile, e: ScoringEvent, w: Weights, km: float
) -> None:
    result = scored(p, e, w, km, now=NOW)
    if result is not None:
        for value in (result.score, result.distance, result.interest, result.comfort):
            assert -1e-12 <= value <= 1 + 1e-12


@given(profiles, events, weight_sets, kms, kms)
def test_nearer_never_scores_lower(
    p: ScoringProfile, e: ScoringEvent, w: Weights, a: float, b: float
) -> None:
    near, far = sorted((a, b))
    far_result = scored(p, e, w, far, now=NOW)
    if far_result is not None:
        near_result = scored(p, e, w, near, now=NOW)
        assert near_result is not None and near_result.score >= far_result.score


@settings(max_examples=200)
@given(profiles, events, kms)
def test_comfort_one_sees_intensity_one_unless_stretching_then_two(
    p: ScoringProfile, e: ScoringEvent, km: float
) -> None:
    p = msgspec.structs.replace(p, comfort_level=1)
    if is_eligible(p, e, km, now=NOW):
        assert e.intensity <= (2 if p.open_to_stretch else 1)


@given(
    profiles,
    events,
    kms,
    st.sampled_from(["hidden", "over", "cancelled", "costly", "currency", "language", "access"]),
)
def test_never_eligible_when_excluded(
    p: ScoringProfile, e: ScoringEvent, km: float, why: str
) -> None:
    if why == "hidden":
        p = msgspec.structs.replace(p, hidden_event_ids=frozenset({e.id}))
    elif why == "over":
        e = msgspec.structs.replace(e, over_at=NOW - timedelta(seconds=1))
    elif why == "cancelled":
        e = msgspec.structs.replace(e, status="cancelled")
    elif why == "costly":
        p = msgspec.structs.replace(p, max_cost_cents=100, currency="EUR")
        e = msgspec.structs.replace(e, cost_cents=101, currency="EUR")
    elif why == "currency":
        p = msgspec.structs.replace(p, max_cost_cents=10_000, currency="EUR")
        e = msgspec.structs.replace(e, cost_cents=1, currency="GBP")
    elif why == "language":
        p = msgspec.structs.replace(p, languages=("fr",))
        e = msgspec.structs.replace(e, languages=("de",))
    else:
        p = msgspec.structs.replace(p, accessibility_needs=("wheelchair",))
        e = msgspec.structs.replace(e, accessibility=("step_free",))
    assert not is_eligible(p, e, km, now=NOW)
    assert scored(p, e, Weights(min_score=0), km, now=NOW) is None


def test_support_is_the_share_of_what_is_sought_and_left_out_when_unknown() -> None:
    assert support_score([], ["emotional"]) is None  # seeks nothing
    assert support_score(["emotional"], []) is None  # declares nothing: unknown, not none
    assert support_score(["emotional", "practical"], ["practical", "companionship"]) == 0.5
    assert support_score(["emotional"], ["practical"]) == 0.0
    plain = scored(profile(), event(), W, 1.84, now=NOW)
    # Not counted: the pair scores exactly as it would without the support component.
    declared = scored(profile(), event(support=("practical",)), W, 1.84, now=NOW)
    assert plain is not None and declared is not None and declared.score == plain.score
    sought = profile(seeking=("practical", "emotional"))
    half = scored(sought, event(support=("practical",)), W, 1.84, now=NOW)
    assert half is not None and half.support == 0.5
    assert half.score == pytest.approx((plain.distance + plain.interest + plain.comfort + 0.5) / 4)
    heavy = scored(sought, event(support=("practical",)), Weights(support=3), 1.84, now=NOW)
    assert heavy is not None
    assert heavy.score == pytest.approx(
        (plain.distance + plain.interest + plain.comfort + 3 * 0.5) / 6
    )
