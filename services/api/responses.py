"""The problem+json answers an operation can give, for its OpenAPI `responses=`.

Every controller documents its error statuses with `problems(...)` so the schema is true.
"""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec

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


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` for the given statuses; idempotency's 409/422 are always possible on POST."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=DESCRIPTIONS[status],
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status in sorted(set(statuses))
    }
