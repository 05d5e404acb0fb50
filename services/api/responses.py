"""The problem+json answers an operation can give, for its OpenAPI `responses=`.

Every controller documents its error statuses with `problems(...)` so the schema is true.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.datastructures import CacheControlHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter

from shared.http.problems import PROBLEM_JSON

DESCRIPTIONS = {
    400: "The body is not JSON",
    401: "No known Bearer key",
    403: "The key may not do this",
    404: "Not found",
    409: "Conflict (e.g. a retry while the first request with this Idempotency-Key runs)",
    413: "The body is over 64 KiB",
    422: "Invalid values (each field named with why), or an Idempotency-Key reused",
    429: "Rate limit reached; see Retry-After",
    503: "A backing service is unavailable; retry shortly",
}


IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Apply this POST once however often it is retried (per caller, 24 h); "
        "the idempotency middleware reads it",
    ),
]


class ProblemField(msgspec.Struct):
    field: str
    reason: str


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    status: int
    title: str
    detail: str = ""
    type: str = "about:blank"
    errors: list[ProblemField] = msgspec.field(default_factory=list)


# On every answer that carries a secret (a token, a key, a feed URL): no cache keeps it.
NO_STORE = CacheControlHeader(no_store=True)

# Any operation may meet a PostgreSQL or Redis outage (503, with Retry-After).
ALWAYS = (503,)
# Any POST may carry an Idempotency-Key: a retry while the first runs (409), or the key
# reused with another request (422).
IDEMPOTENT_POST = (409, 422)


def problems(*statuses: int, post: bool = False) -> dict[int, ResponseSpec]:
    """`responses=` for the given statuses, plus 503 always and idempotency's on a POST."""
    statuses += ALWAYS + (IDEMPOTENT_POST if post else ())
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=DESCRIPTIONS[status],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in sorted(set(statuses))
    }
