"""How every lowkey HTTP process runs under uvicorn: one set of server options.

`services/cli.py` builds its servers from `server_options`; so do tests that need a real
socket. The body-read timeout itself lives in `shared.http.body_limit` (uvicorn has none).
"""

from __future__ import annotations

from typing import Any

import uvicorn

# A connection idle after its answer is closed after this long.
KEEP_ALIVE_S = 5
# Past this many connections at once, new ones get 503 at once rather than queueing.
MAX_CONNECTIONS = 1000
# Request line plus headers (h11's buffer while a request is incomplete): 16 KiB.
MAX_HEADER_BYTES = 16 * 1024
GRACEFUL_SHUTDOWN_S = 10


def server_options(host: str, port: int) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config` and `uvicorn.run`."""
    return {
        "host": host,
        "port": port,
        "access_log": False,  # ours redacts feed tokens
        "log_config": None,
        "lifespan": "on",
        "proxy_headers": False,  # X-Forwarded-For is believed only from LOWKEY_TRUSTED_PROXIES
        "timeout_keep_alive": KEEP_ALIVE_S,
        "limit_concurrency": MAX_CONNECTIONS,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
    }


def server_config(app: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, **server_options(host, port))
