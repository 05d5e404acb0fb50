"""The SPEC's eligibility and component rules ("Matching"), each written once for scalars and
numpy arrays alike: `shared.scoring` calls them with one pair's numbers and bools,
`shared.bulk_scoring` with a batch's columns. Sets (tags, languages, needs) are compared
where they are held (Python sets there, bit words here); the rules take the booleans.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

# One pair's value or a column of them. Only operators both kinds share are used:
# comparisons, arithmetic, and `&` / `|` on booleans (never `not`, `and`, `~` or `+` on two
# booleans, which mean other things for one of them). A rule gives back the kind it is
# given; mypy cannot say "the same kind" without an overload per rule, so results are Any.
Ints = int | npt.NDArray[np.int64]
Floats = float | npt.NDArray[np.float64]
Bools = bool | npt.NDArray[np.bool_]

_SIZE_LIMITS = (6, 12, 25, 60)  # size level 1..4 up to these; more is 5
NOT_COUNTED = -1.0  # the support component when it is left out of the mean


def size_level(group_size: Ints) -> Any:
    """1 up to 6 people, 2 up to 12, 3 up to 25, 4 up to 60, else 5."""
    level: Ints = 1
    for limit in _SIZE_LIMITS:
        level = level + (group_size > limit)
    return level


def intensity(
    group_size: Ints,
    is_open: Bools,
    is_loud: Bools,
    talking_optional: Bools,
    newcomer_support: Bools,
) -> Any:
    """The size level, up one for an open structure and one for loud, down one each for
    talking optional and newcomer support; within 1..5."""
    level = size_level(group_size) + is_open + is_loud - talking_optional - newcomer_support
    # Clamped by arithmetic: min and max do not take arrays, np.clip gives numpy scalars.
    return level + (level < 1) * (1 - level) - (level > 5) * (level - 5)


def highest_intensity(comfort_level: Ints, open_to_stretch: Bools) -> Any:
    """The most intense event a profile is offered: its comfort level, one more to stretch."""
    return comfort_level + open_to_stretch


def comfort_allows(event_intensity: Ints, highest: Ints) -> Any:
    return event_intensity <= highest


def comfort_gap(comfort_level: Ints, event_intensity: Ints) -> Any:
    """What the comfort component is made of: -1 is a stretch event."""
    return comfort_level - event_intensity


def interests_allow(has_interests: Bools, shares_a_tag: Bools) -> Any:
    """At least one of the event's tags is an interest, when the profile has any."""
    return _implies(has_interests, shares_a_tag)


def interest_from_miss(miss: Floats, has_interests: Bools) -> Any:
    """Noisy-OR from `miss`, the product of (1 - weight) over the event's tags in its tag
    order (the same order everywhere, so the product is the same to the bit); 0.5 without
    interests."""
    return _either(has_interests, 1.0 - miss, 0.5)


def cost_allows(
    cost_cents: Ints, has_limit: Bools, max_cost_cents: Ints, same_currency: Bools
) -> Any:
    """Free events always pass; under a limit the cost must be within it, and a cost in
    another currency counts as too costly (cost is a barrier: lowkey does not guess)."""
    return (cost_cents == 0) | _implies(has_limit, (cost_cents <= max_cost_cents) & same_currency)


def languages_allow(event_has: Bools, profile_has: Bools, share_one: Bools) -> Any:
    """Languages overlap when both are set."""
    return _implies(event_has & profile_has, share_one)


def availability_allows(has_windows: Bools, a_start_in_a_window: Bools) -> Any:
    """One of the starts judged falls in an availability window, when any are set."""
    return _implies(has_windows, a_start_in_a_window)


def offers_in_person(event_format: str) -> bool:
    return event_format in ("in_person", "hybrid")


def offers_online(event_format: str) -> bool:
    return event_format in ("online", "hybrid")


def meets_in_person(offered: Bools, taken: Bools, distance_km: Floats, radius_km: Floats) -> Any:
    """In person within the radius; `distance_km` is NaN without a venue (never within)."""
    return offered & taken & (distance_km <= radius_km)


def meets_online(offered: Bools, taken: Bools) -> Any:
    return offered & taken


def support_fraction(shared_count: Ints, sought_count: Ints, given_count: Ints) -> Any:
    """|seeking & support| / |seeking|, or NOT_COUNTED when the user seeks nothing or the
    event declares no support (unknown is not none), so such pairs score as before."""
    counted = (sought_count != 0) & (given_count != 0)
    # Seeking nothing divides by 1 (the value is not used): no division by zero.
    return _either(counted, shared_count / (sought_count + (sought_count == 0)), NOT_COUNTED)


def _implies(condition: Bools, consequence: Bools) -> Any:
    # On booleans, a <= b is "a implies b", for Python's and numpy's alike.
    return condition <= consequence


def _either(condition: Bools, if_true: Floats, if_false: float) -> Any:
    """`if_true` where `condition` holds, else `if_false`; exact for finite values (x * 1
    is x, x * 0 + y is y), which every caller's are."""
    return condition * if_true + (1 - condition) * if_false
