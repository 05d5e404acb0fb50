"""Vectorised full re-score: every live event against every profile, the same rules and
parts as `shared.scoring.score_pair` (no weights: they are applied where matches are
read), fast enough for a whole city on one core.
Tables are built once (`prepare`); any slice of events can then be scored (`score_chunk`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from shared import match_rules as rules
from shared.bulk_tables import SUPPORT_COUNT, EventTable, ProfileTable, Vocabulary
from shared.geodesy import CHORD_MAX_KM, CHORD_TOLERANCE_KM, chord_to_arc_km, distances_km
from shared.occurrences import is_over
from shared.scoring import ScoringEvent, ScoringProfile

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class Prepared(msgspec.Struct, frozen=True):
    """Everything a re-score needs, built once; weights are applied per scoring call."""

    events: EventTable
    profiles: ProfileTable


class Matches(msgspec.Struct, frozen=True):
    """Column arrays of eligible pairs and their parts (as `scoring.PairScore`).
    `explanation_code` indexes `texts` (explanations without the distance): a few
    thousand distinct strings serve millions of rows."""

    profile_id: IntArray
    event_id: IntArray
    distance_km: FloatArray  # NaN when they cannot meet in person
    online: npt.NDArray[np.bool_]
    interest: FloatArray
    comfort_gap: IntArray
    explanation_code: npt.NDArray[np.int32]
    support: FloatArray  # match_rules.NOT_COUNTED when not counted (PairScore's None)
    texts: list[str]

    def __len__(self) -> int:
        return len(self.profile_id)

    def explanations(self) -> npt.NDArray[np.object_]:
        return np.asarray(self.texts, dtype=object)[self.explanation_code]


def prepare(
    events: Sequence[ScoringEvent], profiles: Sequence[ScoringProfile], *, now: datetime
) -> Prepared:
    """Column tables for the live events (not over, not cancelled) and all profiles; an
    event whose stored rule today's bounds refuse counts as over (`occurrences.is_over`)."""
    live = [e for e in events if e.status == "scheduled" and not is_over(e, now)]
    vocab = Vocabulary.build(live, profiles)
    profile_table = ProfileTable.build(profiles, vocab)
    if any(len(set(e.tags)) > 62 for e in live):
        raise ValueError("an event has more than 62 tags")  # shared-tag masks are int64
    event_table = EventTable.build(live, vocab, profile_table.timezones, profile_table, now)
    return Prepared(event_table, profile_table)


def score_all(
    events: Sequence[ScoringEvent], profiles: Sequence[ScoringProfile], *, now: datetime
) -> Matches:
    return score_chunk(prepare(events, profiles, now=now))


def score_chunk(prepared: Prepared, start: int = 0, stop: int | None = None) -> Matches:
    """Eligible pairs of the live events `start:stop` (in `prepared.events` order) with every
    profile, grouped by event in that order. Workers share a re-score by event ranges, or
    by building `Prepared` from a slice of the profiles."""
    ev, pr = prepared.events, prepared.profiles
    stop = len(ev.ids) if stop is None else min(stop, len(ev.ids))
    texts: list[str] = []
    parts: list[tuple[npt.NDArray[np.generic], ...]] = []
    batch = max(8, min(EVENTS_PER_BATCH, PAIRS_PER_BATCH // max(1, len(pr.ids))))
    for lo in range(start, stop, batch):
        rows = np.arange(lo, min(lo + batch, stop))
        part = _score_batch(ev, pr, rows, texts)
        if part is not None:
            parts.append(part)
    if not parts:
        return _matches([[np.empty(0, t)] for t in _DTYPES], texts)
    return _matches([list(c) for c in zip(*parts, strict=True)], texts)


# Events scored together: each numpy call then works on about a million candidate pairs
# (events x profiles / 4 or so), so its fixed cost is nothing, while the batch's arrays
# stay small enough for the caches (a re-score chunk of 25 000 profiles: 200 events; the
# whole benchmark city in one go: 50, which scores it in 5.2 s instead of 6.3 s).
EVENTS_PER_BATCH = 200  # at most; < 2**16, so batch positions fit 16 bits
PAIRS_PER_BATCH = 5_000_000


_DTYPES = (np.int64, np.int64, np.float64, np.bool_, np.float64, np.int64, np.int32, np.float64)


def _matches(columns: list[list[npt.NDArray[np.generic]]], texts: list[str]) -> Matches:
    c: list[Any] = [
        np.concatenate(parts).astype(t, copy=False)
        for parts, t in zip(columns, _DTYPES, strict=True)
    ]
    return Matches(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], texts)


def _pairs(ev: EventTable, pr: ProfileTable, rows: IntArray) -> tuple[IntArray, IntArray]:
    """(event row, profile row) of every pair that might be eligible by place: profiles
    whose radius bucket might reach an in-person venue, grouped by event in `rows` order,
    then everyone who takes online events for each online one (once for a hybrid one)."""
    venues = rows[ev.in_person[rows]]
    at, pp = pr.grid.candidates(ev.lat[venues], ev.lon[venues])
    pe = venues[at]
    hybrid = ev.online[pe]
    if hybrid.any():
        # A hybrid event reaches an online-accepting neighbour both ways: keep them once.
        keep = ~(hybrid & pr.online[pp])
        pe, pp = pe[keep], pp[keep]
    online = rows[ev.online[rows]]
    if not len(online) or not len(pr.online_idx):
        return pe, pp
    pe = np.concatenate([pe, np.repeat(online, len(pr.online_idx))])
    pp = np.concatenate([pp, np.tile(pr.online_idx, len(online))])
    return pe, pp


def _score_batch(
    ev: EventTable, pr: ProfileTable, rows: IntArray, texts: list[str]
) -> tuple[npt.NDArray[np.generic], ...] | None:
    pe, pp = _pairs(ev, pr, rows)
    # Cheapest and most selective first: comfort, then shared interests.
    keep = rules.comfort_allows(ev.intensity[pe], pr.max_intensity[pp])
    overlap = np.zeros(len(pp), bool)
    for w in range(ev.tag_words.shape[1]):
        overlap |= (pr.tag_words[w][pp] & ev.tag_words[pe, w]) != 0
    keep &= rules.interests_allow(pr.has_interests[pp], overlap)
    pe, pp = pe[keep], pp[keep]

    km = _distances(ev, pr, pe, pp)  # NaN for online-only events
    in_person = rules.meets_in_person(ev.in_person[pe], pr.in_person[pp], km, pr.radius[pp])
    online = rules.meets_online(ev.online[pe], pr.online[pp])
    sel = np.flatnonzero(in_person | online)
    pe, pp, in_person, online, km = pe[sel], pp[sel], in_person[sel], online[sel], km[sel]

    same_currency = pr.currency[pp] == ev.currency[pe]
    keep = rules.cost_allows(ev.cost[pe], pr.has_cost_limit[pp], pr.max_cost[pp], same_currency)
    share_language = np.zeros(len(pp), bool)
    for w in range(ev.lang_words.shape[1]):
        share_language |= (pr.lang_words[w][pp] & ev.lang_words[pe, w]) != 0
    keep &= rules.languages_allow(ev.has_languages[pe], pr.has_languages[pp], share_language)
    for w in range(ev.access_words.shape[1]):
        keep &= (pr.need_words[w][pp] & ~ev.access_words[pe, w]) == 0
    if len(ev.hidden_keys):
        keep &= ~_hidden(ev, pr, pe, pp)
    keep &= _available(ev, pr, pe, pp, keep)

    sel = np.flatnonzero(keep)
    if not len(sel):
        return None
    pe, pp, in_person, online, km = pe[sel], pp[sel], in_person[sel], online[sel], km[sel]

    km[~in_person] = np.nan
    miss = np.ones(len(pp))
    shared = np.zeros(len(pp), np.int64)
    for j in range(ev.tag_ids.shape[1]):
        # Padding points at the all-zero row: a factor of exactly 1, no bit.
        w_j = pr.interest[ev.tag_ids[pe, j], pp]
        miss *= 1.0 - w_j
        shared |= (w_j > 0).astype(np.int64) << j
    interest = rules.interest_from_miss(miss, pr.has_interests[pp])
    gap = rules.comfort_gap(pr.comfort[pp], ev.intensity[pe])
    sought, given = pr.seeking[pp], ev.support[pe]
    support = rules.support_fraction(
        SUPPORT_COUNT[sought & given], SUPPORT_COUNT[sought], SUPPORT_COUNT[given]
    )

    sel = np.arange(len(pp))
    if (np.diff(pe) < 0).any():
        # Online pairs came after the in-person ones: back into event order (stable, so
        # each event's profiles keep theirs). Batch positions fit 16 bits, where numpy's
        # stable sort is a linear radix sort.
        sel = np.argsort((pe - rows[0]).astype(np.uint16), kind="stable")
    pe = pe[sel]
    return (
        pr.ids[pp[sel]],
        ev.ids[pe],
        km[sel],
        online[sel],
        interest[sel],
        gap[sel],
        _explanation_codes(ev, pe - rows[0], rows[0], shared[sel], texts),
        support[sel],
    )


def _explanation_codes(
    ev: EventTable, position: IntArray, first_row: int, shared: IntArray, texts: list[str]
) -> npt.NDArray[np.int32]:
    """Each pair's index into `texts`, appending one text per distinct (event, shared
    tags); `position` is the pair's event row minus `first_row` (less than a batch)."""
    width = ev.tag_ids.shape[1]
    if width <= 16:
        # Keys fit a small dense table: a lookup rather than a sort.
        key = (position << width) | shared
        present = np.zeros(int(key.max()) + 1, bool)
        present[key] = True
        distinct = np.flatnonzero(present)
        lookup = np.zeros(len(present), np.int32)
        lookup[distinct] = np.arange(len(texts), len(texts) + len(distinct))
        codes = lookup[key]
        pairs = [(k >> width, k & ((1 << width) - 1)) for k in distinct.tolist()]
    else:
        both, inverse = np.unique(np.stack([position, shared], 1), axis=0, return_inverse=True)
        codes = (len(texts) + inverse.ravel()).astype(np.int32)
        pairs = [(at, mask) for at, mask in both.tolist()]
    texts.extend(ev.explain(first_row + at, mask) for at, mask in pairs)
    return codes


def _hidden(ev: EventTable, pr: ProfileTable, pe: IntArray, pp: IntArray) -> npt.NDArray[np.bool_]:
    """Pairs the profile has hidden (a few keys: a binary search each)."""
    key = pe * len(pr.ids) + pp
    at = np.minimum(np.searchsorted(ev.hidden_keys, key), len(ev.hidden_keys) - 1)
    return np.asarray(ev.hidden_keys[at] == key)


def _distances(ev: EventTable, pr: ProfileTable, pe: IntArray, pp: IntArray) -> FloatArray:
    """Home→venue km (NaN without a venue): chord shortcut, exact geodesic where it could
    matter (near a radius, or beyond the shortcut's range)."""
    dx = pr.x[pp] - ev.x[pe]
    dy = pr.y[pp] - ev.y[pe]
    dz = pr.z[pp] - ev.z[pe]
    km = chord_to_arc_km(np.sqrt(dx * dx + dy * dy + dz * dz), ev.curvature_km[pe])
    redo = np.flatnonzero((np.abs(km - pr.radius[pp]) <= CHORD_TOLERANCE_KM) | (km > CHORD_MAX_KM))
    if len(redo):
        p, e = pp[redo], pe[redo]
        km[redo] = distances_km(pr.lat[p], pr.lon[p], ev.lat[e], ev.lon[e])
    return km


def _available(
    ev: EventTable, pr: ProfileTable, pe: IntArray, pp: IntArray, keep: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Availability, only for the pairs still in: one of the starts it is judged on (a
    series' occurrences in the feed's window), as a minute of the week in the profile's
    zone, must fall in one of the profile's intervals."""
    in_a_window = np.zeros(len(pp), bool)
    check = np.flatnonzero(keep & pr.has_availability[pp])
    if len(check):
        who = pp[check]
        zone = pr.tz_index[who]
        count = ev.minute_counts[pe[check], zone]
        # One row per (pair, minute): the pair's minutes are consecutive in `ev.minutes`.
        pair = np.repeat(np.arange(len(check)), count)
        first = np.repeat(ev.minute_offsets[pe[check], zone], count)
        nth = np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count)
        minute = ev.minutes[first + nth]
        key = who[pair] * ProfileTable.WEEK + minute
        pos = np.searchsorted(pr.window_start_keys, key, "right") - 1
        inside = (pos >= 0) & (key < pr.window_end_keys[np.maximum(pos, 0)])
        in_a_window[check] = np.bincount(pair, weights=inside, minlength=len(check)) > 0
    # Pairs already out are not looked at: they count as outside every window.
    return rules.availability_allows(pr.has_availability[pp], in_a_window)
