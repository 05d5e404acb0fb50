"""The base wire Struct and the constrained types every resource reuses."""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Generic, TypeVar

import msgspec
from msgspec import Meta

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_SLUG = re.compile(SLUG_PATTERN)

Latitude = Annotated[float, Meta(ge=-90, le=90, description="degrees, WGS-84")]
Longitude = Annotated[float, Meta(ge=-180, le=180, description="degrees, WGS-84")]
Slug = Annotated[str, Meta(min_length=1, max_length=40, pattern=SLUG_PATTERN)]
LanguageCode = Annotated[str, Meta(pattern=r"^[a-z]{2}$", description="ISO 639-1")]
CurrencyCode = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217")]
ShortText = Annotated[str, Meta(min_length=1, max_length=200)]
LongText = Annotated[str, Meta(max_length=5000)]
Cents = Annotated[int, Meta(ge=0, le=10_000_000)]
PageLimit = Annotated[int, Meta(ge=1, le=100)]
# The zones this server knows (its tzdata), listed in the schema so clients see the choice.
IANA_ZONES = tuple(sorted(zoneinfo.available_timezones()))
TimeZoneName = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        description="IANA time zone",
        examples=["Europe/Berlin"],
        extra_json_schema={"extra": {"enum": list(IANA_ZONES)}},
    ),
]


def together(*names: str) -> dict[str, object]:
    """JSON Schema rule for `__openapi_rules__`: the fields are all set (non-null) or none."""
    return {
        "anyOf": [
            {"required": list(names), "properties": {n: {"not": {"type": "null"}} for n in names}},
            {"properties": {n: {"type": "null"} for n in names}},
        ]
    }


class Base(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False, kw_only=True):
    """Every request and response body: unknown fields are refused."""


T = TypeVar("T")


class Page(Base, Generic[T]):
    items: list[T]
    next: str | None


def normalise_slug(raw: str) -> str | None:
    """Trim, lowercase, spaces to `-`; None when the result is not a slug (≤ 40 chars)."""
    slug = re.sub(r"\s+", "-", raw.strip().lower())
    if len(slug) > 40 or not _SLUG.match(slug):
        return None
    return slug
