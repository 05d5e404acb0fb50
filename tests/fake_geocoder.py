"""A real local HTTP server speaking Nominatim's /search JSON, for geopy's real client.

It records each request (arrival time, query, User-Agent) so tests can check caching and
the one-request-a-second limit; `fail_with` makes it answer an HTTP error instead.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlparse


class FakeGeocoder:
    def __init__(self, places: dict[str, tuple[float, float]]) -> None:
        self.places = {k.lower(): v for k, v in places.items()}
        self.hits: list[tuple[float, str, str]] = []  # (monotonic time, q, user agent)
        self.fail_with: int | None = None
        self.delay_s = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query).get("q", [""])[0]
                fake.hits.append((time.monotonic(), query, self.headers.get("User-Agent", "")))
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if url.path != "/search" or fake.fail_with is not None:
                    self.send_response(fake.fail_with or 404)
                    self.end_headers()
                    return
                found = fake.places.get(query.lower())
                places = [] if found is None else [_place(query, *found)]
                body = json.dumps(places).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeGeocoder:
        self.thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _place(query: str, lat: float, lon: float) -> dict[str, object]:
    return {
        "place_id": 1,
        "licence": "test data",
        "lat": str(lat),
        "lon": str(lon),
        "display_name": query,
        "boundingbox": [str(lat - 0.001), str(lat + 0.001), str(lon - 0.001), str(lon + 0.001)],
        "class": "amenity",
        "type": "library",
        "importance": 0.5,
    }
