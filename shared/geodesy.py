"""Geodesic distances on the WGS-84 ellipsoid: one pair (geopy), many pairs (pyproj),
and a chord-based shortcut for the bulk scorer that stays within a centimetre up to 100 km.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from geopy.distance import geodesic
from pyproj import Geod

FloatArray = npt.NDArray[np.float64]

_WGS84 = Geod(ellps="WGS84")
_A = 6378137.0  # semi-major axis, metres
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)

# Up to this length the chord shortcut is within 7 mm of the geodesic (checked against
# pyproj on random pairs at latitudes up to 85°, see tests); beyond it we pay for the real thing.
CHORD_MAX_KM = 100.0
# Pairs whose shortcut distance is this close to a radius are recomputed exactly, so a
# pair's eligibility never depends on which method measured it.
CHORD_TOLERANCE_KM = 1e-5


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance between two points in km (Karney's algorithm through geopy)."""
    return float(geodesic((lat1, lon1), (lat2, lon2)).km)


def distances_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> FloatArray:
    """Geodesic distances in km for arrays of pairs, broadcast (pyproj: geopy's algorithm)."""
    a_lat, a_lon, b_lat, b_lon = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (lat1, lon1, lat2, lon2))
    )
    _, _, metres = _WGS84.inv(
        np.ascontiguousarray(a_lon),
        np.ascontiguousarray(a_lat),
        np.ascontiguousarray(b_lon),
        np.ascontiguousarray(b_lat),
    )
    return np.asarray(metres, dtype=np.float64) / 1000.0


def ecef_km(lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Earth-centred cartesian coordinates (km) of points on the ellipsoid's surface."""
    la = np.radians(np.asarray(lat, dtype=np.float64))
    lo = np.radians(np.asarray(lon, dtype=np.float64))
    sin_la, cos_la = np.sin(la), np.cos(la)
    n = _A / np.sqrt(1 - _E2 * sin_la * sin_la) / 1000.0
    return n * cos_la * np.cos(lo), n * cos_la * np.sin(lo), n * (1 - _E2) * sin_la


def gaussian_radius_km(lat: npt.ArrayLike) -> FloatArray:
    """The ellipsoid's mean radius of curvature sqrt(M N) at a latitude, in km."""
    s = np.sin(np.radians(np.asarray(lat, dtype=np.float64)))
    return np.asarray(_A * np.sqrt(1 - _E2) / (1 - _E2 * s * s) / 1000.0)


def chord_to_arc_km(chord: FloatArray, radius: float | FloatArray) -> FloatArray:
    """Arc length for a chord on a surface of the given curvature radius.

    s = c + c³/(24 R²) is the series of 2R·asin(c/2R); on the ellipsoid the error is the
    variation of curvature along the line, well under a millimetre at 25 km.
    """
    return np.asarray(chord + chord**3 / (24.0 * np.square(radius)))
