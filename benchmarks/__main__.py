"""`python -m benchmarks [name ...]`: run every `bench_*.py` (or the named ones) in turn.

Each module exposes `main()`, prints its figures, and compares against a reference
measured in the same run (the machine is shared and noisy).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import benchmarks


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    failures = 0
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        # Each script parses its own options: the names given here are not for it.
        sys.argv = [f"benchmarks.{name}"]
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            module.main()
        except Exception as exc:
            failures += 1
            print(f"{name} failed: {exc!r}", flush=True)
        print(f"({name} took {time.perf_counter() - started:.0f} s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
