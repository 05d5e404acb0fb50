"""Check-ins on the wire: an answer about one ended occurrence, and the changes of comfort
level and stretch pauses the rules made from them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta

from shared.models.common import LOCAL_TIME_PATTERN, Base

Answer = Literal["went_fine", "too_much", "didnt_go"]
ChangeKind = Literal["raised", "lowered", "stretch_paused"]


class CheckinCreate(Base, kw_only=True):
    event_id: Annotated[int, Meta(ge=1, le=2**53 - 1)]  # exact in any JSON client
    occurrence: Annotated[
        str,
        Meta(
            pattern=LOCAL_TIME_PATTERN,
            description="the occurrence's local start in the event's zone, as starts_at",
        ),
    ]
    answer: Answer


class Checkin(Base, kw_only=True):
    id: int
    event_id: int
    title: str | None  # None once the organiser deleted the event
    occurrence: str  # local wall-clock start in the event's zone
    answer: Answer
    intensity: int  # the event's, at the occurrence's start
    comfort_level: int  # the user's, at the occurrence's start
    answered_at: datetime


class ComfortChange(Base, kw_only=True):
    id: int
    kind: ChangeKind
    from_level: int
    to_level: int
    reason: str
    checkins: list[int]
    pause_ends_at: datetime | None  # for a stretch pause: when it ends (or ended early)
    ended_early: bool
    created_at: datetime
