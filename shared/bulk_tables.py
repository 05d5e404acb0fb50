"""Column tables the bulk scorer works on: events and profiles as numpy arrays, sets as
bitmasks over shared vocabularies, profiles ordered for geographic slicing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

import msgspec
import numpy as np
import numpy.typing as npt

from shared import match_rules as rules
from shared.explanations import describe_event, describe_tags
from shared.geodesy import ecef_km, gaussian_radius_km
from shared.models.support import SUPPORT_KINDS
from shared.occurrences import (
    WeeklyWindow,
    availability_starts_by_zone,
    minute_of_week,
    window_intervals,
)
from shared.reach_grid import ReachGrid
from shared.scoring import ScoringEvent, ScoringProfile

Words = npt.NDArray[np.uint64]  # (n_words, rows): bit i of the set, word i // 64
# The support vocabulary's kinds, one bit each (SPEC "Support": four kinds).
_SUPPORT_BIT = {kind: 1 << i for i, kind in enumerate(SUPPORT_KINDS)}
SUPPORT_COUNT = np.array([bin(m).count("1") for m in range(1 << len(SUPPORT_KINDS))], np.int64)


def support_bits(kinds: Iterable[Iterable[str]]) -> npt.NDArray[np.int64]:
    """A bit set per row of the support kinds it names."""
    return np.array([sum(_SUPPORT_BIT[k] for k in set(row)) for row in kinds], np.int64)


class Vocabulary(msgspec.Struct, frozen=True):
    """Index of every tag, language, accessibility feature and currency of the live events.
    Sets are bitmasks over these; a profile's need no event offers gets an extra bit."""

    tags: dict[str, int]
    languages: dict[str, int]
    access: dict[str, int]
    currencies: dict[str, int]

    @classmethod
    def build(
        cls, events: Sequence[ScoringEvent], profiles: Sequence[ScoringProfile]
    ) -> Vocabulary:
        def index(values: Iterable[str]) -> dict[str, int]:
            return {v: i for i, v in enumerate(dict.fromkeys(values))}

        access = index(a for e in events for a in e.accessibility)
        access["\0unoffered"] = len(access)
        return cls(
            tags=index(t for e in events for t in e.tags),
            languages=index(lang for e in events for lang in e.languages),
            access=access,
            currencies=index(e.currency for e in events),
        )


def _words(sets: Sequence[Iterable[str]], vocab: dict[str, int], unknown: int = -1) -> Words:
    """Bitmasks of `sets` over `vocab`; values outside it set bit `unknown` (or none)."""
    masks = []  # Python ints first: a numpy scalar update per bit costs ten times more
    for values in sets:
        mask = 0
        for value in values:
            bit = vocab.get(value, unknown)
            if bit >= 0:
                mask |= 1 << bit
        masks.append(mask)
    n_words = max(1, math.ceil(len(vocab) / 64))
    low64 = (1 << 64) - 1
    return np.array(
        [[(m >> (64 * w)) & low64 for m in masks] for w in range(n_words)], np.uint64
    ).reshape(n_words, len(sets))


class ProfileTable(msgspec.Struct, frozen=True, kw_only=True):
    """All profiles as columns, in the order of their reach grid (in-person takers by
    radius bucket, longitude cell and latitude, then the rest)."""

    WEEK = 7 * 24 * 60

    ids: npt.NDArray[np.int64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    z: npt.NDArray[np.float64]
    radius: npt.NDArray[np.float64]
    comfort: npt.NDArray[np.int64]
    max_intensity: npt.NDArray[np.int64]  # comfort level, +1 when open to stretch
    seeking: npt.NDArray[np.int64]  # bit i: SUPPORT_KINDS[i] is sought
    in_person: npt.NDArray[np.bool_]
    online: npt.NDArray[np.bool_]
    online_idx: npt.NDArray[np.int64]
    has_cost_limit: npt.NDArray[np.bool_]
    max_cost: npt.NDArray[np.int64]  # 0 without a limit
    currency: npt.NDArray[np.int64]  # index in the vocabulary's currencies, -1 for none
    has_interests: npt.NDArray[np.bool_]
    tag_words: Words
    # (tags + 1, profiles): the weight, 0 when not an interest; the last row is all 0, the
    # padding of events' tag lists.
    interest: npt.NDArray[np.float64]
    has_languages: npt.NDArray[np.bool_]
    lang_words: Words
    need_words: Words
    has_availability: npt.NDArray[np.bool_]
    timezones: list[str]
    tz_index: npt.NDArray[np.int64]
    window_start_keys: npt.NDArray[np.int64]  # profile index * WEEK + minute, sorted
    window_end_keys: npt.NDArray[np.int64]
    grid: ReachGrid
    hidden: list[tuple[int, int]]  # (profile index, event id)

    @classmethod
    def build(cls, profiles: Sequence[ScoringProfile], vocab: Vocabulary) -> ProfileTable:
        takes_in_person = np.array(["in_person" in p.formats for p in profiles], bool)
        radius = np.array([p.radius_km for p in profiles], np.float64)
        lat = np.array([p.home_lat for p in profiles], np.float64)
        lon = np.array([p.home_lon for p in profiles], np.float64)
        order, grid = ReachGrid.build(takes_in_person, radius, lat, lon)
        ps = [profiles[i] for i in order.tolist()]
        radius, lat, lon = radius[order], lat[order], lon[order]
        x, y, z = ecef_km(lat, lon)
        comfort = np.array([p.comfort_level for p in ps], np.int64)
        online = np.array(["online" in p.formats for p in ps], bool)
        interest = np.zeros((len(vocab.tags) + 1, len(ps)))
        for col, p in enumerate(ps):
            for tag, weight in p.interests.items():
                if tag in vocab.tags:
                    interest[vocab.tags[tag], col] = weight
        timezones = sorted({p.timezone for p in ps})
        tz_of = {tz: i for i, tz in enumerate(timezones)}
        starts_k, ends_k = cls._windows(ps)
        return cls(
            ids=np.array([p.id for p in ps], np.int64),
            lat=lat,
            lon=lon,
            x=x,
            y=y,
            z=z,
            radius=radius,
            comfort=comfort,
            max_intensity=rules.highest_intensity(
                comfort, np.array([p.open_to_stretch for p in ps], bool)
            ),
            seeking=support_bits([p.seeking for p in ps]),
            in_person=takes_in_person[order],
            online=online,
            online_idx=np.flatnonzero(online).astype(np.int64),
            has_cost_limit=np.array([p.max_cost_cents is not None for p in ps], bool),
            max_cost=np.array([p.max_cost_cents or 0 for p in ps], np.int64),
            currency=np.array([vocab.currencies.get(p.currency or "", -1) for p in ps], np.int64),
            has_interests=np.array([bool(p.interests) for p in ps], bool),
            tag_words=_words([p.interests for p in ps], vocab.tags),
            interest=interest,
            has_languages=np.array([bool(p.languages) for p in ps], bool),
            lang_words=_words([p.languages for p in ps], vocab.languages),
            need_words=_words(
                [p.accessibility_needs for p in ps], vocab.access, vocab.access["\0unoffered"]
            ),
            has_availability=np.array([bool(p.availability) for p in ps], bool),
            timezones=timezones,
            tz_index=np.array([tz_of[p.timezone] for p in ps], np.int64),
            window_start_keys=starts_k,
            window_end_keys=ends_k,
            grid=grid,
            hidden=[(i, eid) for i, p in enumerate(ps) for eid in p.hidden_event_ids],
        )

    @classmethod
    def _windows(
        cls, ps: Sequence[ScoringProfile]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Each profile's availability as merged, sorted minute-of-week intervals, keyed by
        profile index so one searchsorted finds the interval a pair's minute could be in."""
        starts: list[int] = []
        ends: list[int] = []
        seen: dict[tuple[WeeklyWindow, ...], list[list[int]]] = {}  # shared patterns
        for i, p in enumerate(ps):
            merged = seen.get(p.availability)
            if merged is None:
                merged = seen[p.availability] = cls._merged(p.availability)
            starts += [i * cls.WEEK + lo for lo, _ in merged]
            ends += [i * cls.WEEK + hi for _, hi in merged]
        return np.array(starts, np.int64), np.array(ends, np.int64)

    @staticmethod
    def _merged(availability: tuple[WeeklyWindow, ...]) -> list[list[int]]:
        merged: list[list[int]] = []
        for lo, hi in sorted(iv for w in availability for iv in window_intervals(w)):
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        return merged


class EventTable(msgspec.Struct, frozen=True, kw_only=True):
    """The live events as columns (one row each)."""

    events: list[ScoringEvent]
    ids: npt.NDArray[np.int64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    z: npt.NDArray[np.float64]
    curvature_km: npt.NDArray[np.float64]
    in_person: npt.NDArray[np.bool_]
    online: npt.NDArray[np.bool_]
    intensity: npt.NDArray[np.int64]
    cost: npt.NDArray[np.int64]
    currency: npt.NDArray[np.int64]
    # (events, most tags of one event): distinct tag ids in the event's order, padded with
    # the profile table's all-zero interest row.
    tag_ids: npt.NDArray[np.int64]
    tag_words: Words  # (events, words): row-major here, rows are gathered per pair
    has_languages: npt.NDArray[np.bool_]
    lang_words: Words
    access_words: Words
    # Where availability is judged (occurrences.availability_starts): per (event, profile zone)
    # `minute_counts` minutes of the week from `minute_offsets` in `minutes`.
    minute_offsets: npt.NDArray[np.int64]
    minute_counts: npt.NDArray[np.int64]
    minutes: npt.NDArray[np.int64]
    support: npt.NDArray[np.int64]  # bit i: SUPPORT_KINDS[i] is given
    hidden_keys: npt.NDArray[np.int64]  # event row * profiles + profile row, sorted
    descriptions: list[str]
    tag_names: list[tuple[str, ...]]  # distinct tags as explanations name them

    @classmethod
    def build(
        cls,
        events: Sequence[ScoringEvent],
        vocab: Vocabulary,
        timezones: Sequence[str],
        profiles: ProfileTable,
        now: datetime,
    ) -> EventTable:
        has_venue = np.array([e.lat is not None and e.lon is not None for e in events], bool)
        lat = np.array([e.lat if e.lat is not None else np.nan for e in events], np.float64)
        lon = np.array([e.lon if e.lon is not None else np.nan for e in events], np.float64)
        x, y, z = ecef_km(lat, lon)
        # Ragged: the distinct minutes of the week (in each profile zone) of the starts
        # its availability is judged on, at minute_offsets[e, z] .. + minute_counts[e, z].
        offsets = np.zeros((len(events), len(timezones)), np.int64)
        counts = np.zeros((len(events), len(timezones)), np.int64)
        flat: list[int] = []
        for i, e in enumerate(events):
            for zone, (tz, starts) in enumerate(
                zip(timezones, availability_starts_by_zone(e, timezones, now), strict=True)
            ):
                distinct = sorted({minute_of_week(start, tz) for start in starts})
                offsets[i, zone], counts[i, zone] = len(flat), len(distinct)
                flat += distinct
        row = {e.id: i for i, e in enumerate(events)}
        n_profiles = len(profiles.ids)
        hidden = [row[e] * n_profiles + p for p, e in profiles.hidden if e in row]
        tags = [[vocab.tags[t] for t in dict.fromkeys(e.tags)] for e in events]
        tag_ids = np.full((len(events), max(map(len, tags), default=0)), len(vocab.tags))
        for i, ids in enumerate(tags):
            tag_ids[i, : len(ids)] = ids
        return cls(
            events=list(events),
            ids=np.array([e.id for e in events], np.int64),
            lat=lat,
            lon=lon,
            x=x,
            y=y,
            z=z,
            curvature_km=gaussian_radius_km(lat),
            in_person=has_venue
            & np.array([rules.offers_in_person(e.format) for e in events], bool),
            online=np.array([rules.offers_online(e.format) for e in events], bool),
            intensity=np.array([e.intensity for e in events], np.int64),
            cost=np.array([e.cost_cents for e in events], np.int64),
            currency=np.array([vocab.currencies[e.currency] for e in events], np.int64),
            tag_ids=tag_ids,
            tag_words=_words([e.tags for e in events], vocab.tags).T.copy(),
            has_languages=np.array([bool(e.languages) for e in events], bool),
            lang_words=_words([e.languages for e in events], vocab.languages).T.copy(),
            access_words=_words([e.accessibility for e in events], vocab.access).T.copy(),
            minute_offsets=offsets,
            minute_counts=counts,
            minutes=np.array(flat, np.int64),
            support=support_bits([e.support for e in events]),
            hidden_keys=np.array(sorted(hidden), np.int64),
            descriptions=[describe_event(e) for e in events],
            tag_names=[tuple(describe_tags((t,)) for t in dict.fromkeys(e.tags)) for e in events],
        )

    def explain(self, e: int, shared_mask: int) -> str:
        """The explanation (without distance) for event row e and the subset of its tags
        (bit j = its j-th distinct tag) the profile shares; as `explanations.explanation`."""
        # describe_tags joins the tags' names: joined here from names made once per event.
        names = ", ".join(n for j, n in enumerate(self.tag_names[e]) if shared_mask >> j & 1)
        description = self.descriptions[e]
        return f"{names} · {description}" if names else description
