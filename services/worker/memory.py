"""glibc malloc settings for the worker process.

A full re-score chunk allocates and frees a few hundred MB of numpy arrays. By default
glibc serves each big block with a fresh mmap and unmaps it when freed, so the next
chunk's arrays are page-faulted and zeroed by the kernel all over again: that cost as
much as encoding the rows (0.7 s against 0.35 s a chunk here). Kept in one arena and
never handed back, freed blocks serve the next chunk; the price is that the worker's
resident memory stays at its peak (one chunk's worth, ~0.7 GB for 25 000 profiles).
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
_SETTINGS = (
    # One arena: scoring runs in executor threads, and a thread arena's heaps are too
    # small for these blocks, which would be mmapped whatever the threshold.
    (M_ARENA_MAX, 1),
    (M_MMAP_THRESHOLD, 1 << 30),
    (M_TRIM_THRESHOLD, (1 << 31) - 1),
)


def keep_freed_memory() -> bool:
    """Apply the settings (call before any thread starts); False where the C library is
    not glibc, which is left as it is."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(param, value) == 1 for param, value in _SETTINGS)
