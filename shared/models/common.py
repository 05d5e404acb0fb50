"""The base wire Struct and the constrained types every resource reuses.

Text types carry the SPEC's rule on control characters as a pattern, so the schema says
it and msgspec checks it; each pattern is registered with the words a 422 says for it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Generic, Literal, TypeVar

import msgspec
from msgspec import Meta

from shared.models.codes import CURRENCY_CODES, LANGUAGE_CODES, iana_zones

# Why a value failed its pattern, in words: a 422 says this rather than the regex.
PATTERN_REASONS: dict[str, str] = {}
# The same for a long list of allowed values, keyed by the values.
VOCABULARY_REASONS: dict[frozenset[str], str] = {}


def pattern_with_reason(pattern: str, reason: str) -> str:
    """Register what a 422 says when a value does not match `pattern`; returns it."""
    PATTERN_REASONS[pattern] = reason
    return pattern


# Control characters (C0, DEL, C1) and the bidi embeddings, overrides and isolates, which
# can make text display other than it reads. `(?!\n)` after `$`: Python's `$` would also
# match before a final line break (JSON Schema's does not).
_BIDI = r"\u202a-\u202e\u2066-\u2069"
CONTROLS = r"\x00-\x1f\x7f-\x9f" + _BIDI
CONTROLS_BUT_LINES = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + _BIDI  # TAB, LF, CR allowed
TEXT_PATTERN = pattern_with_reason(
    rf"^[^{CONTROLS}]*$(?!\n)",
    "may not contain control characters (a line break, tab or NUL) or bidi controls",
)
LINES_PATTERN = pattern_with_reason(
    rf"^[^{CONTROLS_BUT_LINES}]*$",
    "may not contain control characters other than line breaks and tabs, or bidi controls",
)
NOT_BLANK_PATTERN = pattern_with_reason(
    rf"^[^{CONTROLS}]*[^{CONTROLS}\x20][^{CONTROLS}]*$(?!\n)",
    "must not be blank, and may not contain control characters or bidi controls",
)
URL_PATTERN = pattern_with_reason(
    rf"^https?://[^{CONTROLS}\x20]+$(?!\n)",
    "must be an http:// or https:// URL without spaces or control characters",
)
SLUG_PATTERN = pattern_with_reason(
    r"^[a-z0-9]+(-[a-z0-9]+)*$", "must be a slug: a-z, 0-9 and single hyphens, at most 40"
)
_SLUG = re.compile(SLUG_PATTERN)
# A calendar date and a clock time, without an offset; whether the day exists in its month
# and the time in its zone, and the SPEC's range of years, are checked on top.
LOCAL_TIME_PATTERN = pattern_with_reason(
    r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d"
    r"(:[0-5]\d)?$(?!\n)",
    "must be a local time like 2026-12-01T19:00:00, without an offset",
)


# Meta(extra=...) key of text that may have lines: the request decoder applies `multiline`.
MULTILINE = "lowkey_multiline"


def multiline(text: str) -> str:
    """How text that may have lines is kept: CR and CRLF become LF, TAB a space."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")


if TYPE_CHECKING:
    _Currency = str
    _Language = str
    _Zone = str
else:
    _Currency = Literal[CURRENCY_CODES]
    _Language = Literal[LANGUAGE_CODES]
    _Zone = Literal[iana_zones()]
VOCABULARY_REASONS[frozenset(CURRENCY_CODES)] = "is not an ISO 4217 currency code (e.g. EUR)"
VOCABULARY_REASONS[frozenset(LANGUAGE_CODES)] = "is not an ISO 639-1 language code (e.g. en)"
VOCABULARY_REASONS[frozenset(iana_zones())] = "is not an IANA time zone name (e.g. Europe/Berlin)"

Latitude = Annotated[float, Meta(ge=-90, le=90, description="degrees, WGS-84")]
Longitude = Annotated[float, Meta(ge=-180, le=180, description="degrees, WGS-84")]
LanguageCode = Annotated[_Language, Meta(description="ISO 639-1", examples=["en"])]
CurrencyCode = Annotated[_Currency, Meta(description="ISO 4217", examples=["EUR"])]
TimeZoneName = Annotated[_Zone, Meta(description="IANA time zone", examples=["Europe/Berlin"])]
# One line of plain text (a title, a name).
ShortText = Annotated[str, Meta(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
# Plain text that may have lines; stored with `multiline` applied.
LongText = Annotated[str, Meta(max_length=5000, pattern=LINES_PATTERN, extra={MULTILINE: True})]
AddressText = Annotated[
    str,
    Meta(min_length=1, max_length=500, pattern=LINES_PATTERN, extra={MULTILINE: True}),
]
WebUrl = Annotated[str, Meta(max_length=2000, pattern=URL_PATTERN)]
Cents = Annotated[int, Meta(ge=0, le=10_000_000)]


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
