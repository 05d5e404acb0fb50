"""The demo city's event titles say where each event happens (issue 14: an online event
named after a neighbourhood)."""

from __future__ import annotations

import random
from datetime import date

from shared import demo


def test_demo_titles_name_where_the_event_happens() -> None:
    rng = random.Random(demo.SEED)
    seen = set()
    for i in range(demo.EVENTS):
        event = demo._event(rng, i, date(2026, 12, 1))
        seen.add(event.format)
        place = event.title.rsplit(" (", 1)[1].rstrip(")")
        if event.format == "online":
            assert place == "online" and event.venue is None, event.title
            continue
        assert event.venue is not None
        area = event.venue.address.split(",")[0]
        assert area in {name for name, _, _ in demo.AREAS}
        expected = f"{area} and online" if event.format == "hybrid" else area
        assert place == expected, event.title
    assert seen == {"online", "hybrid", "in_person"}
