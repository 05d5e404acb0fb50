"""A short fault drill in the normal suite, on servers it starts itself (never the
machine's): one api, feed and worker process under light load, the worker SIGKILLed in a
full re-score, Redis stopped and started again. The long drill is `make bench`.
"""

from __future__ import annotations

import pytest

from benchmarks.bench_drill import Plan, check, report, run_drill

pytestmark = pytest.mark.slow


async def test_short_drill_loses_nothing_and_answers_no_500() -> None:
    plan = Plan(
        seconds=30,
        apis=1,
        feeds=1,
        workers=1,
        organisers=4,
        events=40,
        users=150,
        rate=40,
        concurrency=4,
        outage_s=6,
        postgres=False,
    )
    result = await run_drill(plan)
    report(result)
    assert check(result) == []
    assert result["runs_open_at_kill"] >= 1, "the worker was killed inside a re-score run"
    assert result["writes"]["acknowledged"] > 20
    assert result["lost"] == []
    m = result["matches"]
    assert m["expected"] > 0 and m["stored"] == m["expected"]
    assert m["missing"] == m["extra"] == m["different"] == 0
    assert 500 not in result["load"]["statuses"]
    assert result["worker_restarts"]["worker0"] >= 1
    assert result["api_feed_exits"] == []
    # Redis down alone never fails a request: writes wait in the outbox. Nor does Redis
    # coming back, the worker's death or the re-score: no 503 in any phase.
    assert all(status < 500 for status in result["by_phase"]["redis down"]["statuses"])
    assert result["unavailable_outside_postgres"] == {}, result["logged_warnings"]
    assert 503 not in result["load"]["statuses"], result["logged_warnings"]
