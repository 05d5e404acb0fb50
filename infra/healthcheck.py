#!/usr/bin/env python3
"""Container HEALTHCHECK for the lowkey image: exit 0 when this role's /healthz answers 200.

One image runs every role, so the check finds the role from the container's main
process (PID 1, `lowkey api` / `lowkey feed` / `lowkey worker` / `lowkey up`, possibly
behind an init such as tini) and the port from the same settings lowkey reads.
One-shot roles (`migrate`, `create-organiser`) have nothing to serve: always healthy.
Standard library only; it is copied into the image as `lowkey-healthcheck`.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

ROLE_PORTS = {
    "api": ("LOWKEY_API_PORT", 8000),
    "up": ("LOWKEY_API_PORT", 8000),
    "feed": ("LOWKEY_FEED_PORT", 8001),
    "worker": ("LOWKEY_WORKER_METRICS_PORT", 8002),
}
ONE_SHOT = ("migrate", "create-organiser")


def role_of(argv: Sequence[str]) -> str | None:
    """The lowkey subcommand in a command line, or None when there is none."""
    for arg in argv:
        if arg in ROLE_PORTS or arg in ONE_SHOT:
            return arg
    return None


def main_cmdline(path: str = "/proc/1/cmdline") -> list[str]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def url_for(role: str, env: Mapping[str, str]) -> str:
    variable, default = ROLE_PORTS[role]
    port = env.get(variable) or str(default)
    return f"http://127.0.0.1:{port}/healthz"


def check(url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    # An explicit role wins (`lowkey-healthcheck feed`); otherwise ask PID 1.
    role = role_of(argv if argv else main_cmdline()) or "api"
    if role in ONE_SHOT:
        return 0
    url = url_for(role, env)
    if check(url):
        return 0
    print(f"lowkey-healthcheck: {role}: {url} did not answer 200", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
