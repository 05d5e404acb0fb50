"""Vectorised full re-score: every live event against every profile, the same rules and
numbers as `shared.scoring.score_pair`, fast enough for a whole city on one core.
Tables are built once (`prepare`); any slice of events can then be scored (`score_chunk`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec
import numpy as np
import numpy.typing as npt

from shared.bulk_tables import EventTable, ProfileTable, Vocabulary
from shared.geodesy import CHORD_MAX_KM, CHORD_TOLERANCE_KM, chord_to_arc_km, distances_km
from shared.scoring import ScoringEvent, ScoringProfile, Weights

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


class Prepared(msgspec.Struct, frozen=True):
    """Everything a re-score needs, built once; weights are applied per scoring call."""

    events: EventTable
    profiles: ProfileTable


class Matches(msgspec.Struct, frozen=True):
    """Column arrays of matches. `explanation_code` indexes `texts` (explanations without
    the distance): a few thousand distinct strings serve millions of rows."""

    profile_id: IntArray
    event_id: IntArray
    score: FloatArray
    distance: FloatArray
    interest: FloatArray
    comfort: FloatArray
    distance_km: FloatArray  # NaN when matched online
    explanation_code: npt.NDArray[np.int32]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.profile_id)

    def explanations(self) -> npt.NDArray[np.object_]:
        return np.asarray(self.texts, dtype=object)[self.explanation_code]


def prepare(
    events: Sequence[ScoringEvent], profiles: Sequence[ScoringProfile], *, now: datetime
) -> Prepared:
    """Column tables for the live events (not over, not cancelled) and all profiles."""
    live = [e for e in events if e.status == "scheduled" and not (e.over_at and e.over_at <= now)]
    vocab = Vocabulary.build(live, profiles)
    profile_table = ProfileTable.build(profiles, vocab)
    if any(len(set(e.tags)) > 62 for e in live):
        raise ValueError("an event has more than 62 tags")  # shared-tag masks are int64
    event_table = EventTable.build(live, vocab, profile_table.timezones, profile_table, now)
    return Prepared(event_table, profile_table)


def score_all(
    events: Sequence[ScoringEvent],
    profiles: Sequence[ScoringProfile],
    weights: Weights,
    *,
    now: datetime,
) -> Matches:
    return score_chunk(prepare(events, profiles, now=now), weights)


def score_chunk(
    prepared: Prepared, weights: Weights, start: int = 0, stop: int | None = None
) -> Matches:
    """Matches of the live events `start:stop` (in `prepared.events` order) with every
    profile. Workers share a re-score by event ranges, or by building `Prepared` from a
    slice of the profiles."""
    ev, pr = prepared.events, prepared.profiles
    stop = len(ev.ids) if stop is None else min(stop, len(ev.ids))
    texts: list[str] = []
    parts: list[tuple[npt.NDArray[np.generic], ...]] = []
    for e in range(start, stop):
        part = _score_event(ev, pr, e, weights, texts)
        if part is not None:
            parts.append(part)
    if not parts:
        return _matches([[np.empty(0, t)] for t in _DTYPES], texts)
    return _matches([list(c) for c in zip(*parts, strict=True)], texts)


_DTYPES = (np.int64, np.int64, *(np.float64,) * 5, np.int32)


def _matches(columns: list[list[npt.NDArray[np.generic]]], texts: list[str]) -> Matches:
    c = [
        np.concatenate(parts).astype(t, copy=False)
        for parts, t in zip(columns, _DTYPES, strict=True)
    ]
    return Matches(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], texts)


def _candidates(ev: EventTable, pr: ProfileTable, e: int) -> IntArray:
    """Profiles that might reach event e: a latitude band per radius bucket, narrowed by
    longitude (geographic), plus everyone who takes online events when it is online."""
    chunks: list[IntArray] = []
    if ev.in_person[e]:
        lat, lon = ev.lat[e], ev.lon[e]
        for b in range(len(pr.bucket_starts) - 1):
            lo_b, hi_b = pr.bucket_starts[b], pr.bucket_starts[b + 1]
            dlat, dlon = pr.bucket_dlat[b], pr.bucket_dlon[b]
            sorted_lat = pr.lat[lo_b:hi_b]
            lo = lo_b + int(np.searchsorted(sorted_lat, lat - dlat, "left"))
            hi = lo_b + int(np.searchsorted(sorted_lat, lat + dlat, "right"))
            if hi > lo:
                near = np.abs(pr.lon[lo:hi] - lon) <= dlon
                chunks.append(lo + np.flatnonzero(near))
    if ev.online[e]:
        # A hybrid event reaches an online-accepting neighbour both ways: keep them once.
        chunks = [c[~pr.online[c]] for c in chunks]
        chunks.append(pr.online_idx)
    return np.concatenate(chunks) if chunks else np.empty(0, np.int64)


def _score_event(
    ev: EventTable, pr: ProfileTable, e: int, weights: Weights, texts: list[str]
) -> tuple[npt.NDArray[np.generic], ...] | None:
    cand = _candidates(ev, pr, e)
    # Cheapest and most selective first: comfort, then shared interests.
    keep = pr.max_intensity[cand] >= ev.intensity[e]
    tag_words = ev.tag_words[e]
    if tag_words.any():
        overlap = np.zeros(len(cand), bool)
        for w, word in enumerate(tag_words):
            if word:
                overlap |= (pr.tag_words[w][cand] & word) != 0
        keep &= overlap | ~pr.has_interests[cand]
    else:
        keep &= ~pr.has_interests[cand]
    cand = cand[keep]

    in_person = np.zeros(len(cand), bool)
    km = np.full(len(cand), np.nan)
    if ev.in_person[e] and len(cand):
        in_person = pr.in_person[cand]
        km = _distances(ev, pr, e, cand)
        in_person &= km <= pr.radius[cand]
    online = pr.online[cand] if ev.online[e] else np.zeros(len(cand), bool)
    sel = np.flatnonzero(in_person | online)
    cand, in_person, online, km = cand[sel], in_person[sel], online[sel], km[sel]
    keep = np.ones(len(cand), bool)

    cost = ev.cost[e]
    if cost > 0:
        keep &= (pr.max_cost[cand] >= cost) & (
            (pr.currency[cand] == ev.currency[e]) | (pr.currency[cand] == ProfileTable.ANY)
        )
    lang_words = ev.lang_words[e]
    if lang_words.any():
        lang_ok = ~pr.has_languages[cand]
        for w, word in enumerate(lang_words):
            lang_ok |= (pr.lang_words[w][cand] & word) != 0
        keep &= lang_ok
    for w, word in enumerate(ev.access_words[e]):
        keep &= (pr.need_words[w][cand] & ~word) == 0
    hidden = ev.hidden_by[e]
    if len(hidden):
        keep &= ~np.isin(cand, hidden)
    keep &= _available(ev, pr, e, cand, keep)

    sel = np.flatnonzero(keep)
    if not len(sel):
        return None
    cand, in_person, online, km = cand[sel], in_person[sel], online[sel], km[sel]

    dist = np.where(in_person, np.exp(-km / weights.distance_decay_km), 0.0)
    by_online = online & (~in_person | (weights.online_score > dist))
    dist[by_online] = weights.online_score
    km[by_online] = np.nan

    miss = np.ones(len(cand))
    shared = np.zeros(len(cand), np.int64)
    for j, t in enumerate(ev.tag_ids[e]):
        w_j = pr.interest[t][cand]
        miss *= 1.0 - w_j
        shared |= (w_j > 0).astype(np.int64) << j
    interest = np.where(pr.has_interests[cand], 1.0 - miss, 0.5)
    gap = pr.comfort[cand] - ev.intensity[e]
    comfort = np.where(gap >= 0, 1.0 - 0.1 * gap, 1.0 - weights.stretch_penalty)
    total = weights.distance + weights.interest + weights.comfort
    score = (
        weights.distance * dist + weights.interest * interest + weights.comfort * comfort
    ) / total

    sel = np.flatnonzero(score >= weights.min_score)
    if not len(sel):
        return None
    masks, inverse = np.unique(shared[sel], return_inverse=True)
    codes = np.empty(len(masks), np.int32)
    for i, mask in enumerate(masks.tolist()):
        codes[i] = len(texts)
        texts.append(ev.explain(e, mask))
    return (
        pr.ids[cand[sel]],
        np.full(len(sel), ev.ids[e], np.int64),
        score[sel],
        dist[sel],
        interest[sel],
        comfort[sel],
        km[sel],
        codes[inverse.ravel()],
    )


def _distances(ev: EventTable, pr: ProfileTable, e: int, cand: IntArray) -> FloatArray:
    """Home→venue km: chord shortcut, exact geodesic where it could matter (near a
    radius, or beyond the shortcut's range)."""
    dx = pr.x[cand] - ev.x[e]
    dy = pr.y[cand] - ev.y[e]
    dz = pr.z[cand] - ev.z[e]
    km = chord_to_arc_km(np.sqrt(dx * dx + dy * dy + dz * dz), ev.curvature_km[e])
    redo = np.flatnonzero(
        (np.abs(km - pr.radius[cand]) <= CHORD_TOLERANCE_KM) | (km > CHORD_MAX_KM)
    )
    if len(redo):
        km[redo] = distances_km(pr.lat[cand[redo]], pr.lon[cand[redo]], ev.lat[e], ev.lon[e])
    return km


def _available(
    ev: EventTable, pr: ProfileTable, e: int, cand: IntArray, keep: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Availability, only for the pairs still in: the event's next start, as a minute of
    the week in each profile's zone, must fall in one of the profile's intervals."""
    ok = np.ones(len(cand), bool)
    check = np.flatnonzero(keep & pr.has_availability[cand])
    if not len(check):
        return ok
    who = cand[check]
    minute = ev.minute_of_week[e][pr.tz_index[who]]
    key = who * ProfileTable.WEEK + minute
    pos = np.searchsorted(pr.window_start_keys, key, "right") - 1
    inside = (minute >= 0) & (pos >= 0) & (key < pr.window_end_keys[np.maximum(pos, 0)])
    ok[check] = inside
    return ok
