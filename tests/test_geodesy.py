"""Distances agree with geopy's geodesic: pyproj to the nanometre, the chord shortcut to 1 cm."""

import numpy as np
from geopy.distance import geodesic
from pyproj import Geod

from shared.geodesy import (
    CHORD_MAX_KM,
    chord_to_arc_km,
    distance_km,
    distances_km,
    ecef_km,
    gaussian_radius_km,
)


def test_distance_km_is_geopys_geodesic() -> None:
    assert distance_km(51.34, 12.37, 51.35, 12.40) == geodesic((51.34, 12.37), (51.35, 12.40)).km


def test_distances_km_agree_with_geopy_within_a_micrometre() -> None:
    rng = np.random.default_rng(3)
    lat1, lat2 = rng.uniform(-80, 80, (2, 200))
    lon1, lon2 = rng.uniform(-180, 180, (2, 200))
    expected = [
        geodesic(a, b).km
        for a, b in zip(zip(lat1, lon1, strict=True), zip(lat2, lon2, strict=True), strict=True)
    ]
    assert np.allclose(distances_km(lat1, lon1, lat2, lon2), expected, rtol=0, atol=1e-9)


def test_distances_km_broadcasts_one_point_against_many() -> None:
    out = distances_km(np.array([51.0, 52.0]), np.array([12.0, 12.0]), 51.0, 12.0)
    assert out[0] == 0 and abs(out[1] - geodesic((52, 12), (51, 12)).km) < 1e-9


def test_chord_shortcut_is_within_a_centimetre_up_to_its_range() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    lat1 = rng.uniform(-85, 85, n)
    lon1 = rng.uniform(-180, 180, n)
    lon2, lat2, _ = Geod(ellps="WGS84").fwd(
        lon1, lat1, rng.uniform(0, 360, n), rng.uniform(0, CHORD_MAX_KM * 1000, n)
    )
    a, b = ecef_km(lat1, lon1), ecef_km(lat2, lon2)
    chord = np.sqrt(sum((p - q) ** 2 for p, q in zip(a, b, strict=True)))
    shortcut = chord_to_arc_km(chord, gaussian_radius_km((lat1 + lat2) / 2))
    assert np.abs(shortcut - distances_km(lat1, lon1, lat2, lon2)).max() < 1e-5
