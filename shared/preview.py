"""The weights preview: a seeded sample of users, their stored pairs weighed by the active
and by the candidate weights, on the same stored parts (shared/db/weighing.py). Nothing
is saved, nothing is re-scored.

Per sampled user it tells only ranks, events and explanations (never a score, component
or distance, SPEC "Feeds"); numbers appear only in aggregates over the whole sample.
`compute_preview` is pure; `run_preview` loads its inputs in one read-only transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import msgspec
import numpy as np

from shared.db.preview import live_event_count, sample_pairs, sample_profile_ids
from shared.db.weights import active_weights
from shared.models.weights import (
    MIN_SAMPLE,
    Histogram,
    PreviewMatch,
    PreviewResult,
    PreviewUser,
    WeightSet,
)
from shared.scoring import Weights
from shared.timeutil import Refusal, stored_schedule

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

    rows: list[int]  # indexes into the pairs
    rank_of: dict[int, int]  # event id -> 1-based rank


class SamplePairs(msgspec.Struct, frozen=True):
    """The sample's stored pairs as columns, each weighed both ways."""

    profile_id: np.ndarray
    event_id: np.ndarray
    before: np.ndarray  # the score with the active weights
    after: np.ndarray  # with the candidate weights
    explanations: list[str]
    titles: dict[int, str]
    next_starts: dict[int, datetime | None]

    @classmethod
    def from_rows(cls, rows: Sequence[asyncpg.Record], now: datetime) -> SamplePairs:
        next_starts: dict[int, datetime | None] = {}
        for r in rows:
            if r["event_id"] not in next_starts:
                found = stored_schedule(
                    r["event_id"], r["starts_at"], r["ends_at"], r["timezone"],
                    r["recurrence"], now,
                )  # fmt: skip
                next_starts[r["event_id"]] = (
                    None if isinstance(found, Refusal) else found.next_start(now)
                )
        return cls(
            profile_id=np.array([r["profile_id"] for r in rows], np.int64),
            event_id=np.array([r["event_id"] for r in rows], np.int64),
            before=np.array([r["before"] for r in rows], np.float64),
            after=np.array([r["after"] for r in rows], np.float64),
            explanations=[r["explanation"] for r in rows],
            titles={r["event_id"]: r["title"] for r in rows},
            next_starts=next_starts,
        )


def compute_preview(
    profile_ids: list[int],
    pairs: SamplePairs,
    *,
    events_considered: int,
    active_version: int,
    active: Weights,
    candidate: Weights,
    seed: int,
) -> PreviewResult:
    ranked_before = _rank(pairs, pairs.before, active.min_score)
    ranked_after = _rank(pairs, pairs.after, candidate.min_score)
    users: list[PreviewUser] = []
    for index, profile_id in enumerate(profile_ids, start=1):
        rb = ranked_before.get(profile_id, _Ranked([], {}))
        ra = ranked_after.get(profile_id, _Ranked([], {}))
        top_before = [_entry(pairs, row, rank) for rank, row in enumerate(rb.rows[:TOP_N], 1)]
        top_after = [
            _entry(pairs, row, rank, rb.rank_of) for rank, row in enumerate(ra.rows[:TOP_N], 1)
        ]
        # Changed: a different top list (events or their order), not merely new scores.
        changed = [m.event_id for m in top_before] != [m.event_id for m in top_after]
        users.append(PreviewUser(index, changed, top_before, top_after))

    pairs_before = _pair_set(pairs, pairs.before >= active.min_score)
    pairs_after = _pair_set(pairs, pairs.after >= candidate.min_score)
    return PreviewResult(
        active_version=active_version,
        sample_size=len(profile_ids),
        seed=seed,
        events_considered=events_considered,
        pairs=len(pairs.profile_id),
        matches_before=len(pairs_before),
        matches_after=len(pairs_after),
        appeared=len(pairs_after - pairs_before),
        disappeared=len(pairs_before - pairs_after),
        users_changed=sum(u.changed for u in users),
        histogram=Histogram(
            edges=EDGES, before=_histogram(pairs.before), after=_histogram(pairs.after)
        ),
        users=users,
    )


def _rank(pairs: SamplePairs, score: np.ndarray, min_score: float) -> dict[int, _Ranked]:
    keep = np.flatnonzero(score >= min_score)
    # lexsort: last key first; best score first, then the lower event id.
    order = keep[np.lexsort((pairs.event_id[keep], -score[keep]))]
    rows: dict[int, list[int]] = {}
    for row in order.tolist():
        rows.setdefault(int(pairs.profile_id[row]), []).append(row)
    return {
        pid: _Ranked(r, {int(pairs.event_id[x]): i for i, x in enumerate(r, start=1)})
        for pid, r in rows.items()
    }


def _entry(
    pairs: SamplePairs, row: int, rank: int, rank_of_before: dict[int, int] | None = None
) -> PreviewMatch:
    event_id = int(pairs.event_id[row])
    return PreviewMatch(
        rank=rank,
        event_id=event_id,
        title=pairs.titles.get(event_id, ""),
        next_starts_at=pairs.next_starts.get(event_id),
        explanation=pairs.explanations[row],  # stored texts carry no distance
        rank_before=None if rank_of_before is None else rank_of_before.get(event_id),
    )


def _pair_set(pairs: SamplePairs, mask: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(pairs.profile_id[mask].tolist(), pairs.event_id[mask].tolist(), strict=True))


def _histogram(score: np.ndarray) -> list[int]:
    # A weighted mean of values in [0, 1] can exceed 1 by a rounding error: clip it in.
    counts, _ = np.histogram(np.clip(score, 0.0, 1.0), bins=BINS, range=(0.0, 1.0))
    return [int(c) for c in counts]


async def run_preview(
    pool: asyncpg.Pool, candidate: Weights | WeightSet, *, sample_size: int, seed: int
) -> PreviewResult:
    """The sample, its pairs and the active weights in one snapshot; then the ranks. A
    weight set that leaves out later weights (`support`, `together_bonus`) keeps the
    active version's, as a PUT of it would."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        version, active = await active_weights(conn)
        if isinstance(candidate, WeightSet):
            candidate = candidate.to_weights(active)
        profile_ids = await sample_profile_ids(conn, seed=seed, size=sample_size)
        if len(profile_ids) < MIN_SAMPLE:
            raise SampleTooSmall(len(profile_ids))
        rows = await sample_pairs(conn, profile_ids, candidate)
        events_considered = await live_event_count(conn)
    return compute_preview(
        profile_ids,
        SamplePairs.from_rows(rows, datetime.now(UTC)),
        events_considered=events_considered,
        active_version=version,
        active=active,
        candidate=candidate,
        seed=seed,
    )
