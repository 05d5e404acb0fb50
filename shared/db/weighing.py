"""The one place a weight set meets the stored parts of a pair (SPEC "Matching"): the SQL
every reader of matches puts in its statement, around `weigh_match` (migrations 0020,
0021; 0023 made it inlined into each reader's plan).

A reader writes `WITH {ACTIVE_WEIGHTS}` (or `{CANDIDATE_WEIGHTS}` with the weights as
parameters), then `FROM matches m {WEIGHED}`, and keeps what `{IS_MATCH}` says: the score
`s.score`, components `s.distance`, `m.interest_score`, `s.comfort`, `s.support` (NULL
when not counted), and the distance shown `s.distance_km` (NULL when the distance
component is the online score).
"""

from __future__ import annotations

from typing import Any

from shared.scoring import Weights

# `w`: the weights the statement applies (one row). The LIMIT says so to the planner:
# autovacuum never analyzes tables this small, and without statistics it guessed
# thousands of weight rows, so a user's ~100 matches looked like 20 000 pairs and got a
# parallel plan (a worker started per read: 3.9 ms where 0.7 ms do).
ACTIVE_WEIGHTS = """w AS (
    SELECT v.* FROM active_weights a JOIN weight_versions v ON v.version = a.version
    LIMIT 1
)"""


def weigh_match(w: str = "w", m: str = "m") -> str:
    """The call weighing the pair `m` with the weights row `w`."""
    return f"""weigh_match(
    {m}.distance_km, {m}.online, {m}.interest_score, {m}.comfort_gap, {m}.support,
    {w}.distance, {w}.interest, {w}.comfort, {w}.support, {w}.distance_decay_km,
    {w}.online_score, {w}.stretch_penalty)"""


def weighed(w: str = "w", m: str = "m", as_: str = "s") -> str:
    """The join that weighs the pair `m` with the weights row `w` into `as_` (`as_.score`,
    `as_.distance`...). Always in a FROM (here, or in a sub-select where a DELETE cannot
    join it), never in an expression: PostgreSQL inlines a set-returning SQL function in
    FROM (migration 0023), and would call it row by row elsewhere."""
    return f"CROSS JOIN LATERAL {weigh_match(w, m)} AS {as_}"


WEIGHED = f"CROSS JOIN w {weighed()}"
# A match: an eligible pair scoring at least `min_score`, or a cancelled event's row that
# was one when it was cancelled (kept until the event is over, whatever the weights do).
IS_MATCH = "(m.kept OR s.score >= w.min_score)"
# The score a reader ranks by: a together match (SPEC "A trusted person": an event both
# of a pair match on their own, shared/together.py) gets `together_bonus`, capped at 1.
# `{together}` is the parameter holding those event ids.
RANKED = (
    "least(s.score + CASE WHEN m.event_id = ANY({together}::bigint[])"
    " THEN w.together_bonus ELSE 0 END, 1)"
)
CANDIDATE_FIELDS = (
    "distance", "interest", "comfort", "support", "distance_decay_km", "online_score",
    "stretch_penalty", "min_score", "together_bonus",
)  # fmt: skip


def candidate_weights(first: int, name: str = "c") -> str:
    """A weights row `name` from parameters $first.. (CANDIDATE_FIELDS order, as
    `candidate_values` gives them)."""
    columns = ", ".join(
        f"${first + i}::double precision AS {field}" for i, field in enumerate(CANDIDATE_FIELDS)
    )
    return f"{name} AS (SELECT {columns})"


def candidate_values(weights: Weights) -> list[Any]:
    return [getattr(weights, name) for name in CANDIDATE_FIELDS]
