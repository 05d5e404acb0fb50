"""The recurrence gate's cost: checking the hostile rules of issue 13 and the worst a rule
can make the check do (its whole day budget), and expanding a feed's 12 weeks of a daily
series begun in 1970, beside dateutil iterating to the same weeks from the series' start.

Run: `.venv/bin/python -m benchmarks recurrence` (pure: no servers).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from shared import recurrence

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 2, 17, tzinfo=UTC)
# The gate's worst case stays well inside what a request may spend on its checks.
GOAL_CHECK_MS = 50.0
GOAL_WINDOW_MS = 2.0
CASES = [
    ("FREQ=DAILY;INTERVAL=0", datetime(2027, 1, 5, 19)),
    ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", datetime(2027, 1, 5, 19)),
    ("FREQ=MONTHLY;BYDAY=+99SA", datetime(2027, 1, 5, 19)),
    ("FREQ=WEEKLY;UNTIL=99991231T235959Z", datetime(2027, 1, 5, 19)),
    ("FREQ=DAILY;COUNT=3653", datetime(2026, 12, 3, 19)),  # ten years, every day
    # Leap days on a Monday (1988, then 2016): the check spends its whole budget.
    ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;UNTIL=20150101", datetime(1988, 2, 29, 19)),
    # ... and one that finds its last occurrence 7 300 days back.
    ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;UNTIL=20360101", datetime(2016, 2, 29, 19)),
]


def best_ms(run: Callable[[], object], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def check(rule: str, start: datetime) -> None:
    with contextlib.suppress(ValueError):
        recurrence.check(rule, start, BERLIN, now=NOW)


def main() -> None:
    worst = 0.0
    for rule, start in CASES:
        ms = best_ms(lambda rule=rule, start=start: check(rule, start))
        worst = max(worst, ms)
        print(f"check {rule[:60]:60s} {ms:8.2f} ms")
    series = recurrence.check("FREQ=DAILY", datetime(1970, 1, 1, 19), BERLIN, now=NOW)
    window = (NOW, NOW + timedelta(weeks=12))
    gate_ms = best_ms(lambda: series.starts_between(*window))
    rule = rrulestr("FREQ=DAILY", dtstart=datetime(1970, 1, 1, 19, tzinfo=BERLIN))
    dateutil_ms = best_ms(lambda: rule.between(*window, inc=True), repeat=3)
    print(f"12 weeks of a daily series from 1970: gate {gate_ms:.2f} ms,", end=" ")
    print(f"dateutil {dateutil_ms:.1f} ms")
    print(f"worst check {worst:.1f} ms (goal < {GOAL_CHECK_MS:.0f} ms)")
    if worst > GOAL_CHECK_MS or gate_ms > GOAL_WINDOW_MS:
        raise RuntimeError("the recurrence gate is slower than its goal")


if __name__ == "__main__":
    main()
