"""The reach grid finds every profile whose radius reaches a venue, once, by venue."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.geodesy import distances_km
from shared.reach_grid import RADIUS_BUCKETS, ReachGrid


def reaching(lat, lon, radius, in_person, v_lat, v_lon) -> set[tuple[int, int]]:
    """(venue, profile) pairs within the profile's radius, by the exact geodesic."""
    out = set()
    for v in range(len(v_lat)):
        km = distances_km(lat, lon, v_lat[v], v_lon[v])
        out |= {(v, int(p)) for p in np.flatnonzero(in_person & (km <= radius))}
    return out


def grid_pairs(lat, lon, radius, in_person, v_lat, v_lon) -> tuple[list, np.ndarray]:
    order, grid = ReachGrid.build(in_person, radius, lat, lon)
    venue, rows = grid.candidates(np.asarray(v_lat, float), np.asarray(v_lon, float))
    return list(zip(venue.tolist(), order[rows].tolist(), strict=True)), venue


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    centre_lat=st.floats(-75, 75),
    centre_lon=st.floats(-150, 150),
    spread=st.sampled_from([0.05, 0.5, 3.0]),
)
def test_every_profile_in_reach_is_a_candidate_once(seed, centre_lat, centre_lon, spread) -> None:
    rng = np.random.default_rng(seed)
    n, m = 300, 25
    lat = centre_lat + rng.uniform(-spread, spread, n)
    lon = centre_lon + rng.uniform(-spread, spread, n)
    # Every bucket, its edges included, and the odd radius far beyond the last one.
    radius = rng.choice([*RADIUS_BUCKETS, 0.1, 1.0, 4.0, 12.0, 25.0, 80.0], n)
    in_person = rng.random(n) < 0.9
    v_lat = centre_lat + rng.uniform(-spread, spread, m)
    v_lon = centre_lon + rng.uniform(-spread, spread, m)
    pairs, venue = grid_pairs(lat, lon, radius, in_person, v_lat, v_lon)
    assert len(pairs) == len(set(pairs))  # each profile once per venue
    assert (np.diff(venue) >= 0).all()  # grouped by venue, in input order
    assert reaching(lat, lon, radius, in_person, v_lat, v_lon) <= set(pairs)
    assert all(in_person[p] for _, p in pairs)


def test_profiles_exactly_at_their_radius_are_found() -> None:
    # Homes due north, east, south and west of the venue at exactly their radius.
    venue = (48.2, 16.37)
    radius = np.array([2.0, 3.5, 6.0, 25.0])
    km_per_deg_lat = distances_km(venue[0], venue[1], venue[0] + 1, venue[1])[()]
    km_per_deg_lon = distances_km(venue[0], venue[1], venue[0], venue[1] + 1)[()]
    lat = np.concatenate([venue[0] + radius / km_per_deg_lat, venue[0] - radius / km_per_deg_lat,
                          np.full(8, venue[0])])  # fmt: skip
    lon = np.concatenate([np.full(8, venue[1]), venue[1] + radius / km_per_deg_lon,
                          venue[1] - radius / km_per_deg_lon])  # fmt: skip
    radii = np.tile(radius, 4) * 1.0001  # a hair more: the line is not a great circle
    in_person = np.ones(16, bool)
    assert len(reaching(lat, lon, radii, in_person, [venue[0]], [venue[1]])) == 16
    pairs, _ = grid_pairs(lat, lon, radii, in_person, [venue[0]], [venue[1]])
    assert {p for _, p in pairs} == set(range(16))


def test_no_venues_and_no_in_person_profiles_give_no_candidates() -> None:
    lat, lon = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    assert grid_pairs(lat, lon, np.ones(2), np.ones(2, bool), [], [])[0] == []
    assert grid_pairs(lat, lon, np.ones(2), np.zeros(2, bool), [1.0], [1.0])[0] == []
