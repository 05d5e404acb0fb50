"""Each rule in shared.match_rules gives, on numpy columns, what it gives pair by pair, and
pair by pair it gives plain Python values (what the Structs and the explanations hold)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import match_rules as rules

counts = st.integers(0, 4)
sizes = st.integers(1, 400)
levels = st.integers(1, 5)
cents = st.sampled_from([0, 1, 300, 500, 501, 10_000_000])
kms = st.floats(0, 60) | st.just(math.nan)
radii = st.floats(0.1, 200)
misses = st.floats(0, 1)

# (rule, what each argument is drawn from, the Python type pair by pair)
RULES: list[tuple[Callable[..., Any], tuple[st.SearchStrategy[Any], ...], type]] = [
    (rules.size_level, (sizes,), int),
    (rules.intensity, (sizes, *[st.booleans()] * 4), int),
    (rules.highest_intensity, (levels, st.booleans()), int),
    (rules.comfort_allows, (levels, st.integers(1, 6)), bool),
    (rules.comfort_gap, (levels, levels), int),
    (rules.interests_allow, (st.booleans(), st.booleans()), bool),
    (rules.interest_from_miss, (misses, st.booleans()), float),
    (rules.cost_allows, (cents, st.booleans(), cents, st.booleans()), bool),
    (rules.languages_allow, (st.booleans(), st.booleans(), st.booleans()), bool),
    (rules.availability_allows, (st.booleans(), st.booleans()), bool),
    (rules.meets_in_person, (st.booleans(), st.booleans(), kms, radii), bool),
    (rules.meets_online, (st.booleans(), st.booleans()), bool),
    (rules.support_fraction, (counts, counts, counts), float),
]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_each_rule_gives_the_same_on_columns_as_pair_by_pair(data: st.DataObject) -> None:
    for rule, drawn, kind in RULES:
        rows = data.draw(st.lists(st.tuples(*drawn), min_size=1, max_size=20), rule.__name__)
        one_by_one = [rule(*row) for row in rows]
        assert all(type(value) is kind for value in one_by_one), rule.__name__
        columns = [np.array(column) for column in zip(*rows, strict=True)]
        assert rule(*columns).tolist() == one_by_one, rule.__name__


def test_the_rules_read_like_the_spec() -> None:
    assert rules.comfort_allows(3, rules.highest_intensity(2, True))  # a stretch
    assert not rules.comfort_allows(4, rules.highest_intensity(2, True))
    assert rules.cost_allows(0, True, 0, False)  # free, whatever the currency
    assert not rules.cost_allows(300, True, 500, False)  # another currency: too costly
    assert rules.cost_allows(300, False, 0, False)  # no limit
    assert not rules.meets_in_person(True, True, math.nan, 200.0)  # no venue
    assert rules.interest_from_miss(0.2, False) == 0.5
    assert rules.support_fraction(1, 2, 3) == 0.5
    assert rules.support_fraction(0, 0, 3) == rules.NOT_COUNTED  # seeks nothing
    assert rules.support_fraction(0, 2, 0) == rules.NOT_COUNTED  # declares nothing
