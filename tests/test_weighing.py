"""Weights are applied where matches are read: migration 0020's `weigh_match` (the one
function every reader calls, shared/db/weighing.py) is the SPEC's formula over every
weight field and every stored part, and each weight moves exactly what it should.
"""

from __future__ import annotations

import asyncio
import math

import asyncpg
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.db.weighing import candidate_values, candidate_weights, weigh_match
from shared.scoring import PairScore, Weights
from tests.weighing import weigh

# One row per case: parts as stored (real, boolean, smallint) and a weight set each
# (`weigh_match("m")` reads both from the same row; the weight of support is `support_w`).
_CALL = "m.support_w,".join(weigh_match("m").rsplit("m.support,", 1))
WEIGH_ALL = f"""
WITH cases AS (
    SELECT * FROM unnest($1::real[], $2::boolean[], $3::real[], $4::smallint[], $5::real[],
                         $6::float8[], $7::float8[], $8::float8[], $9::float8[],
                         $10::float8[], $11::float8[], $12::float8[])
        AS t(distance_km, online, interest_score, comfort_gap, support, distance, interest,
             comfort, support_w, distance_decay_km, online_score, stretch_penalty)
)
SELECT s.score, s.distance, s.comfort, s.distance_km, s.support
FROM cases m CROSS JOIN LATERAL {_CALL} AS s
"""


def number(low: float, high: float) -> st.SearchStrategy[float]:
    """A weight an admin would type: 0, or at least 1e-9 (the SQL counts a weight under
    1e-100 as 0, where a product of two would underflow, an error in PostgreSQL)."""
    return st.floats(low, high).map(lambda x: 0.0 if x < 1e-9 else x)


weights = st.builds(
    Weights,
    distance=number(0, 1000),
    interest=number(0, 1000),
    comfort=number(0, 1000),
    support=number(0, 1000),
    together_bonus=number(0, 1),
    distance_decay_km=st.floats(0.001, 1000),
    online_score=number(0, 1),
    stretch_penalty=number(0, 1),
    min_score=number(0, 1),
).filter(lambda w: w.distance + w.interest + w.comfort > 0)


@st.composite
def parts(draw: st.DrawFn) -> PairScore:
    in_person = draw(st.booleans())
    # float4, as stored: the reference weighs the same numbers the database holds.
    f4 = st.floats(0, 1, width=32).map(lambda x: 0.0 if x < 1e-9 else x)
    return PairScore(
        event_id=1,
        distance_km=draw(st.floats(0, 20_000, width=32)) if in_person else None,
        online=draw(st.booleans()) if in_person else True,
        interest=draw(f4),
        comfort_gap=draw(st.integers(-1, 4)),
        explanation="",
        # As stored (float4): 1/3 is 0.33333334 there.
        support=draw(
            st.none()
            | st.sampled_from([0.0, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1.0]).map(
                lambda x: float(np.float32(x))
            )
        ),
    )


async def weigh_in_sql(database_url: str, cases: list[tuple[PairScore, Weights]]) -> list:
    conn = await asyncpg.connect(database_url)
    try:
        columns = list(
            zip(
                *[
                    (
                        p.distance_km,
                        p.online,
                        p.interest,
                        p.comfort_gap,
                        -1.0 if p.support is None else p.support,
                        w.distance,
                        w.interest,
                        w.comfort,
                        w.support,
                        w.distance_decay_km,
                        w.online_score,
                        w.stretch_penalty,
                    )
                    for p, w in cases
                ],
                strict=True,
            )
        )
        return list(await conn.fetch(WEIGH_ALL, *[list(c) for c in columns]))
    finally:
        await conn.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(parts(), weights), min_size=1, max_size=40))
def test_the_sql_weighing_is_the_spec_formula(
    database_url: str, cases: list[tuple[PairScore, Weights]]
) -> None:
    rows = asyncio.run(weigh_in_sql(database_url, cases))
    for (p, w), row in zip(cases, rows, strict=True):
        want = weigh(p, w)
        assert math.isclose(row["score"], want.score, rel_tol=1e-9, abs_tol=1e-9), (p, w)
        assert math.isclose(row["distance"], want.distance, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(row["comfort"], want.comfort, rel_tol=1e-9, abs_tol=1e-12)
        assert (row["distance_km"] is None) == (want.distance_km is None), (p, w)
        assert (row["support"] is None) == (want.support is None), (p, w)


async def test_each_weight_moves_exactly_its_component(database_url: str) -> None:
    near = PairScore(
        event_id=1, distance_km=2.0, online=False, interest=0.7, comfort_gap=1, explanation=""
    )
    hybrid = PairScore(
        event_id=1, distance_km=2.0, online=True, interest=0.7, comfort_gap=-1, explanation=""
    )
    base = Weights()
    cases = [
        (near, base),
        (near, Weights(distance_decay_km=1.0)),  # distance only
        (hybrid, base),
        (hybrid, Weights(online_score=0.9)),  # distance becomes the online score
        (hybrid, Weights(stretch_penalty=0.1)),  # comfort only
    ]
    rows = await weigh_in_sql(database_url, cases)
    got = [(round(r["distance"], 4), round(r["comfort"], 4), r["distance_km"]) for r in rows]
    assert got == [
        (round(math.exp(-2 / 5), 4), 0.9, 2.0),
        (round(math.exp(-2), 4), 0.9, 2.0),
        (round(math.exp(-2 / 5), 4), 0.6, 2.0),  # in person wins: 0.67 >= 0.6
        (0.9, 0.6, None),  # online wins: shown as online, no distance
        (round(math.exp(-2 / 5), 4), 0.9, 2.0),
    ]


async def test_candidate_weights_are_read_from_parameters(database_url: str) -> None:
    """The preview's second weight set comes in as parameters, in the declared order."""
    w = Weights(distance=2, interest=3, comfort=4, distance_decay_km=6, online_score=0.7)
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            f"WITH {candidate_weights(1)} SELECT c.* FROM c", *candidate_values(w)
        )
    finally:
        await conn.close()
    assert dict(row) == {f: getattr(w, f) for f in dict(row)}


async def test_a_vanishing_weight_set_reads_as_zero_not_an_error(database_url: str) -> None:
    """Weights an admin may save (each >= 0, the sum > 0) never make a read fail."""
    near = PairScore(
        event_id=1, distance_km=19_000, online=True, interest=1e-40, comfort_gap=-1, explanation=""
    )
    tiny = Weights(distance=1e-300, interest=1e-300, comfort=0, distance_decay_km=1e-3)
    rows = await weigh_in_sql(database_url, [(near, tiny)])
    assert rows[0]["score"] == 0.0
