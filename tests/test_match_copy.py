"""The binary COPY payload: PostgreSQL reads back exactly what the bulk scorer found."""

from __future__ import annotations

import math
from typing import Any

import asyncpg
import numpy as np
import pytest

from benchmarks.city import build_city
from shared import match_copy
from shared.bulk_scoring import Matches, score_all
from shared.db import explanations
from shared.db.matches import copy_binary
from shared.match_copy import copy_order, encode

TABLE = """
CREATE TEMP TABLE copied (LIKE matches INCLUDING DEFAULTS)
"""


async def test_payload_round_trips_through_postgresql(pool: asyncpg.Pool, db_clean: None) -> None:
    city = build_city(300, 60, seed=11)
    found = score_all(city.events, city.profiles, now=city.now)
    no_km = np.isnan(found.distance_km)
    assert 0 < no_km.sum() < len(found), "the sample needs rows with and without a distance"
    assert 0 < found.online.sum() < len(found)
    async with pool.acquire() as conn:
        await conn.execute(TABLE)
        ids = await match_copy.code_ids(conn, found.texts)
        await copy_binary(conn, "copied", encode(found, ids))
        rows = await conn.fetch(
            "SELECT c.*, x.text FROM copied c JOIN match_explanations x ON x.id = c.explanation_id"
            " ORDER BY c.ctid"
        )
    assert len(rows) == len(found)
    # Stored in key order: rows with a distance, then online ones, each by (profile, event).
    keys = [(r["distance_km"] is None, r["profile_id"], r["event_id"]) for r in rows]
    assert keys == sorted(keys)
    got: dict[tuple[int, int], Any] = {(r["profile_id"], r["event_id"]): r for r in rows}
    texts = found.explanations()
    for i in range(len(found)):
        row = got[int(found.profile_id[i]), int(found.event_id[i])]
        assert row["online"] is bool(found.online[i])
        assert row["comfort_gap"] == found.comfort_gap[i]
        assert row["interest_score"] == pytest.approx(found.interest[i], abs=1e-6)
        assert row["kept"] is False
        assert row["support"] == pytest.approx(found.support[i], abs=1e-6)
        if math.isnan(found.distance_km[i]):
            assert row["distance_km"] is None
        else:
            assert row["distance_km"] == pytest.approx(found.distance_km[i], abs=1e-4)
        assert row["text"] == texts[i]
        assert row["scored_at"] is not None


async def test_explanation_ids_are_stable_and_shared(pool: asyncpg.Pool, db_clean: None) -> None:
    async with pool.acquire() as conn:
        first = await explanations.ids_for(conn, ["b · free", "a", "b · free"])
        again = await explanations.ids_for(conn, ["a", "c"])
        assert set(first) == {"a", "b · free"} and first["a"] == again["a"]
        assert len({*first.values(), *again.values()}) == 3
        assert list(await match_copy.code_ids(conn, ["c", "a"])) == [again["c"], first["a"]]
        assert await conn.fetchval("SELECT count(*) FROM match_explanations") == 3


async def test_known_explanation_ids_are_not_looked_up_again(
    pool: asyncpg.Pool, db_clean: None
) -> None:
    async with pool.acquire() as conn:
        known: dict[str, int] = {}
        first = await match_copy.code_ids(conn, ["a", "b", "a"], known)
        assert known == {"a": first[0], "b": first[1]} and first[2] == first[0]
        known["a"] = 999  # what a Worker remembers wins: no round trip for it
        again = await match_copy.code_ids(conn, ["a", "c"], known)
        assert again[0] == 999 and again[1] == known["c"] not in (first[0], first[1])
        assert await conn.fetchval("SELECT count(*) FROM match_explanations") == 3


def test_copy_order_is_the_key_order_whatever_the_input_order() -> None:
    """The scorer's event-by-event rows take the radix path; rows in any other order,
    or profile ids spread too far for 16 bits, a packed key or (ids past 31 bits) a
    lexsort: the same order, the same payload."""
    city = build_city(200, 40, seed=3)
    found = score_all(city.events, city.profiles, now=city.now)
    order, with_km = copy_order(found)
    assert 0 < with_km < len(found)
    keys = list(
        zip(
            np.isnan(found.distance_km[order]).tolist(),
            found.profile_id[order].tolist(),
            found.event_id[order].tolist(),
            strict=True,
        )
    )
    assert keys == sorted(keys) and len(set(keys)) == len(found)

    def rows(m: Matches, pick: np.ndarray, shift: int = 0) -> Matches:  # type: ignore[type-arg]
        return Matches(
            m.profile_id[pick] * (1 + shift), m.event_id[pick], m.distance_km[pick],
            m.online[pick], m.interest[pick], m.comfort_gap[pick], m.explanation_code[pick],
            m.support[pick], m.texts,
        )  # fmt: skip

    ids = np.arange(1, len(found.texts) + 1, dtype=np.int32)
    shuffled = rows(found, np.random.default_rng(1).permutation(len(found)))
    assert bytes(encode(shuffled, ids)) == bytes(encode(found, ids))
    spread = rows(found, np.arange(len(found)), shift=2**17)  # ids 131 073 apart
    assert bytes(encode(spread, ids)) != bytes(encode(found, ids))
    assert copy_order(spread)[0].tolist() == order.tolist()
    huge = rows(found, np.arange(len(found)), shift=2**32)  # beyond the packed key
    assert copy_order(huge)[0].tolist() == order.tolist()
