"""Wire shapes of an organiser: what an admin sends, what the API shows (the key only once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from msgspec import Meta

from shared.models.common import CONTROLS, Base, ShortText, pattern_with_reason

# Spelled without `\s`: Python's and JSON Schema's whitespace classes differ.
_ADDRESS_PART = rf"[^@{CONTROLS}\x20]+"
EMAIL_PATTERN = pattern_with_reason(
    rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}$(?!\n)",
    "must be an email address like name@example.org",
)
Email = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=254,
        pattern=EMAIL_PATTERN,
        description="where the organiser can be reached",
        examples=["events@library.example"],
    ),
]


class OrganiserCreate(Base):
    name: ShortText
    contact_email: Email


class Organiser(Base):
    id: int
    name: str
    contact_email: str
    created_at: datetime
    revoked_at: datetime | None = None


class OrganiserCreated(Base):
    """The answer to a create: the only time `api_key` is ever shown."""

    id: int
    name: str
    contact_email: str
    created_at: datetime
    api_key: str
