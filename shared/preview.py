"""The weights preview: a seeded sample of users scored against the live events twice,
with the active and the candidate weights, by the same bulk scorer. Nothing is saved.

Per sampled user it tells only ranks, events and explanations (never a score, component
or distance, SPEC "Feeds"); numbers appear only in aggregates over the whole sample.
`compute_preview` is pure; `run_preview` loads its inputs in one read-only transaction.
"""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime

import asyncpg
import msgspec
import numpy as np

from shared.bulk_scoring import Matches, prepare, score_chunk
from shared.db.preview import live_events, sample_profiles
from shared.db.weights import active_weights
from shared.models.weights import (
    MIN_SAMPLE,
    Histogram,
    PreviewMatch,
    PreviewResult,
    PreviewUser,
)
from shared.scoring import ScoringEvent, ScoringProfile, Weights, next_occurrence_start

TOP_N = 5
BINS = 10
EDGES = [round(i / BINS, 1) for i in range(BINS + 1)]


class SampleTooSmall(Exception):
    """Fewer users than the SPEC's minimum sample exist: one user's matches would stand out."""

    def __init__(self, found: int) -> None:
        super().__init__(
            f"the preview needs at least {MIN_SAMPLE} users to sample from and there are"
            f" {found}: with fewer, one user's matches would stand out"
        )


class _Ranked(msgspec.Struct, frozen=True):
    """One user's matches under one weight set, best first (ties: lower event id)."""

    rows: list[int]  # indexes into the Matches arrays
    rank_of: dict[int, int]  # event id -> 1-based rank


def compute_preview(
    profiles: list[ScoringProfile],
    events: list[ScoringEvent],
    titles: dict[int, str],
    *,
    active_version: int,
    active: Weights,
    candidate: Weights,
    seed: int,
    now: datetime,
) -> PreviewResult:
    prepared = prepare(events, profiles, now=now)
    # min_score 0 keeps every eligible pair, so the histograms show what min_score cuts.
    before = score_chunk(prepared, msgspec.structs.replace(active, min_score=0.0))
    after = score_chunk(prepared, msgspec.structs.replace(candidate, min_score=0.0))
    ranked_before = _rank(before, active.min_score)
    ranked_after = _rank(after, candidate.min_score)
    texts_before, texts_after = before.explanations(), after.explanations()
    by_id = {e.id: e for e in events}
    shown = _Shown(titles, {}, by_id, now)

    users: list[PreviewUser] = []
    for index, profile in enumerate(profiles, start=1):
        rb = ranked_before.get(profile.id, _Ranked([], {}))
        ra = ranked_after.get(profile.id, _Ranked([], {}))
        top_before = [
            _entry(before, texts_before, shown, row, rank)
            for rank, row in enumerate(rb.rows[:TOP_N], start=1)
        ]
        top_after = [
            _entry(after, texts_after, shown, row, rank, rb.rank_of)
            for rank, row in enumerate(ra.rows[:TOP_N], start=1)
        ]
        # Changed: a different top list (events or their order), not merely new scores.
        changed = [m.event_id for m in top_before] != [m.event_id for m in top_after]
        users.append(PreviewUser(index, changed, top_before, top_after))

    pairs_before = _pair_set(before, before.score >= active.min_score)
    pairs_after = _pair_set(after, after.score >= candidate.min_score)
    return PreviewResult(
        active_version=active_version,
        sample_size=len(profiles),
        seed=seed,
        events_considered=len(prepared.events.ids),
        pairs=len(before),
        matches_before=len(pairs_before),
        matches_after=len(pairs_after),
        appeared=len(pairs_after - pairs_before),
        disappeared=len(pairs_before - pairs_after),
        users_changed=sum(u.changed for u in users),
        histogram=Histogram(edges=EDGES, before=_histogram(before), after=_histogram(after)),
        users=users,
    )


def _rank(matches: Matches, min_score: float) -> dict[int, _Ranked]:
    keep = np.flatnonzero(matches.score >= min_score)
    # lexsort: last key first; best score first, then the lower event id.
    order = keep[np.lexsort((matches.event_id[keep], -matches.score[keep]))]
    rows: dict[int, list[int]] = {}
    for row in order.tolist():
        rows.setdefault(int(matches.profile_id[row]), []).append(row)
    return {
        pid: _Ranked(r, {int(matches.event_id[x]): i for i, x in enumerate(r, start=1)})
        for pid, r in rows.items()
    }


class _Shown(msgspec.Struct):
    """What an entry shows of its event: the title and the next start (looked up once)."""

    titles: dict[int, str]
    next_starts: dict[int, datetime | None]
    events: dict[int, ScoringEvent]
    now: datetime

    def next_start(self, event_id: int) -> datetime | None:
        if event_id not in self.next_starts:
            self.next_starts[event_id] = next_occurrence_start(self.events[event_id], self.now)
        return self.next_starts[event_id]


def _entry(
    matches: Matches,
    texts: np.ndarray,
    shown: _Shown,
    row: int,
    rank: int,
    rank_of_before: dict[int, int] | None = None,
) -> PreviewMatch:
    event_id = int(matches.event_id[row])
    return PreviewMatch(
        rank=rank,
        event_id=event_id,
        title=shown.titles.get(event_id, ""),
        next_starts_at=shown.next_start(event_id),
        explanation=str(texts[row]),  # the bulk scorer's texts carry no distance
        rank_before=None if rank_of_before is None else rank_of_before.get(event_id),
    )


def _pair_set(matches: Matches, mask: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(matches.profile_id[mask].tolist(), matches.event_id[mask].tolist(), strict=True))


def _histogram(matches: Matches) -> list[int]:
    # A weighted mean of values in [0, 1] can exceed 1 by a rounding error: clip it in.
    counts, _ = np.histogram(np.clip(matches.score, 0.0, 1.0), bins=BINS, range=(0.0, 1.0))
    return [int(c) for c in counts]


async def run_preview(
    pool: asyncpg.Pool, candidate: Weights, *, sample_size: int, seed: int
) -> PreviewResult:
    """Load the sample, the live events and the active weights in one snapshot, then score."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        version, active = await active_weights(conn)
        profiles = await sample_profiles(conn, seed=seed, size=sample_size)
        if len(profiles) < MIN_SAMPLE:
            raise SampleTooSmall(len(profiles))
        events, titles = await live_events(conn)
    # Scoring is CPU work: keep it off the event loop.
    return await asyncio.to_thread(
        functools.partial(
            compute_preview,
            profiles,
            events,
            titles,
            active_version=version,
            active=active,
            candidate=candidate,
            seed=seed,
            now=datetime.now(UTC),
        )
    )
