"""The worker's malloc settings: a freed big block stays with the process for the next
chunk instead of going back to the kernel (checked in fresh interpreters)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from services.worker.memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
import numpy as np

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

base = rss_mb()
block = np.ones(200 * 2**20, np.uint8)  # touched: resident
del block
print(round(rss_mb() - base))
"""


def retained_mb(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_freed_blocks_stay_for_the_next_chunk() -> None:
    assert retained_mb("default") < 20  # glibc's default: unmapped at once
    assert retained_mb("keep") > 180
