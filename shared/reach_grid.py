"""Which profiles might reach a venue: in-person profiles ordered by (radius bucket,
longitude cell, latitude), so that for a whole batch of venues two searchsorted calls per
bucket find, in each of three neighbouring cells, the latitude band the bucket's largest
radius could reach. A prefilter: its candidates are a superset, the exact distance decides.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# Radius buckets (km): profiles in a bucket are searched with the bucket's largest radius,
# so narrow buckets for the common small radii keep the bands thin.
RADIUS_BUCKETS = (2.0, 3.5, 6.0, 10.0, 16.0)
KM_PER_DEGREE_LAT = 110.0  # below the true minimum (110.57 km): bands are never too thin
SLACK_DEGREES = 1e-6  # true candidates lie at least this far inside every band edge
# A row's key is (cell - the bucket's first cell) * 256 + (lat + 90): latitudes span 180,
# so cells never overlap, and keys stay small enough to be exact to ~1e-9 degrees.
_CELL_KEY = 256.0
# Cells a bit wider than the band's half-width: a band 2·dlon wide spans at most three.
_CELL_WIDTH = 1.001
_CELLS = np.arange(3)


class Bucket(msgspec.Struct, frozen=True):
    """Rows `start:stop` of the ordered table: in-person profiles with radii in one bucket."""

    start: int
    stop: int
    dlat: float  # the band's half-height, degrees
    dlon: float  # its half-width at the bucket's most polar latitude, degrees
    cell_width: float  # degrees of longitude
    first_cell: int


class ReachGrid(msgspec.Struct, frozen=True):
    buckets: list[Bucket]
    keys: FloatArray  # per row of the ordered table (0 for rows not in person)

    @classmethod
    def build(
        cls,
        in_person: npt.NDArray[np.bool_],
        radius: FloatArray,
        lat: FloatArray,
        lon: FloatArray,
    ) -> tuple[IntArray, ReachGrid]:
        """The row order for a profile table (in-person takers by bucket, cell and
        latitude, then the rest) and the grid over its rows in that order."""
        n_buckets = len(RADIUS_BUCKETS) + 1
        bucket = np.where(in_person, np.searchsorted(RADIUS_BUCKETS, radius), n_buckets)
        dlat, dlon = np.zeros(n_buckets + 1), np.ones(n_buckets + 1)
        for b in range(n_buckets):
            members = bucket == b
            r = float(radius[members].max(initial=0.0))
            pole = float(np.abs(lat[members]).max(initial=0.0))
            dlat[b] = r / KM_PER_DEGREE_LAT + SLACK_DEGREES
            cos = math.cos(math.radians(min(pole + dlat[b], 89.9)))
            dlon[b] = min(360.0, r / (KM_PER_DEGREE_LAT * max(cos, 1e-3)) + SLACK_DEGREES)
        width = dlon * _CELL_WIDTH
        cell = np.where(in_person, np.floor((lon + 180.0) / width[bucket]), 0).astype(np.int64)
        order = np.lexsort((lat, cell, bucket))
        bucket, cell, lat = bucket[order], cell[order], lat[order]
        starts = np.searchsorted(bucket, np.arange(n_buckets + 1)).tolist()
        keys = np.zeros(len(lat))
        buckets = []
        for b in range(n_buckets):
            lo, hi = starts[b], starts[b + 1]
            first = int(cell[lo]) if hi > lo else 0
            keys[lo:hi] = (cell[lo:hi] - first) * _CELL_KEY + (lat[lo:hi] + 90.0)
            buckets.append(Bucket(lo, hi, float(dlat[b]), float(dlon[b]), float(width[b]), first))
        return order, cls(buckets, keys)

    def candidates(self, lat: FloatArray, lon: FloatArray) -> tuple[IntArray, IntArray]:
        """For venues at (lat[i], lon[i]): (venue index, row) of every in-person profile
        whose bucket's radius might reach it, grouped by venue in input order."""
        if not len(lat):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        lows, counts = [], []
        for b in self.buckets:
            if b.stop == b.start:
                continue
            cells = np.floor((lon - b.dlon + 180.0) / b.cell_width).astype(np.int64)
            base = (cells[:, None] + _CELLS - b.first_cell) * _CELL_KEY  # (venues, 3)
            # Clipped to the cell's own key range, so a band never spills into a neighbour.
            low = base + np.maximum(lat + 90.0 - b.dlat, -1.0)[:, None]
            high = base + np.minimum(lat + 90.0 + b.dlat, 181.0)[:, None]
            keys = self.keys[b.start : b.stop]
            lo = np.searchsorted(keys, low, "left")
            lows.append(b.start + lo)
            counts.append(np.searchsorted(keys, high, "right") - lo)
        if not lows:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        lo_all = np.concatenate(lows, axis=1).ravel()  # venue-major: each venue's ranges together
        n_all = np.concatenate(counts, axis=1)
        per_venue = n_all.sum(axis=1)
        n_flat = n_all.ravel()
        ends = np.cumsum(n_flat)
        rows = np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(
            lo_all - (ends - n_flat), n_flat
        )
        return np.repeat(np.arange(len(lat)), per_venue), rows
