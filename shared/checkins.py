"""The check-in rules, as pure functions: which occurrence an answer may be about, and
what the answers move when the user has consented (graded steps, SPEC "Check-ins").

Answers are counted in occurrence order, skipping `didnt_go`, and only those about
occurrences that started after the count last began (a change of level, or consent).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from shared import timeutil
from shared.timeutil import Refusal

ANSWER_WINDOW = timedelta(days=14)  # after an occurrence ends, how long it may be answered
STRETCH_PAUSE = timedelta(days=14)  # from a `too_much`, how long stretch suggestions rest
LOWEST, HIGHEST = 1, 5


class Occurrence(NamedTuple):
    start: datetime  # aware UTC
    end: datetime  # aware UTC


def occurrence_of(
    event_id: int,
    starts_at: datetime,
    ends_at: datetime,
    tz_name: str,
    rule: str | None,
    local_start: datetime,
    now: datetime,
) -> Occurrence | None:
    """The event's occurrence that starts at `local_start` (naive, in the event's zone),
    through the same checked schedule scoring and feeds use; None when it has none then."""
    found = timeutil.stored_schedule(event_id, starts_at, ends_at, tz_name, rule, now)
    if isinstance(found, Refusal):
        return None
    try:
        instant = timeutil.to_utc(local_start, timeutil.zone(tz_name))
    except ValueError:
        return None
    starts = found.starts_between(instant, instant + timedelta(seconds=1))
    if not starts or starts[0].astimezone(UTC) != instant:
        return None
    return Occurrence(instant, instant + found.duration)


def answer_refusal(occurrence: Occurrence | None, now: datetime) -> str | None:
    """Why an answer about this occurrence cannot be taken (before the match record is
    looked up), or None."""
    if occurrence is None:
        return "is not the start of one of this event's occurrences (give its local start)"
    if occurrence.end > now:
        return "has not ended yet: say how it went once it is over"
    if occurrence.end + ANSWER_WINDOW < now:
        return "ended more than 14 days ago: check-ins stay open for 14 days"
    return None


def answerable(occurrence: Occurrence | None, now: datetime) -> bool:
    """Whether an answer about this occurrence may be taken now (the checks made before
    the match record is looked up): what the pages offer to answer."""
    return answer_refusal(occurrence, now) is None


class Answer(NamedTuple):
    id: int
    answer: str  # went_fine | too_much | didnt_go
    intensity: int  # the event's, at the occurrence's start
    comfort_level: int  # the user's, at the occurrence's start
    occurrence: datetime


class LevelChange(NamedTuple):
    kind: str  # raised | lowered
    to_level: int
    reason: str
    checkin_ids: tuple[int, ...]


class Pause(NamedTuple):
    until: datetime
    reason: str
    checkin_ids: tuple[int, ...]


class Outcome(NamedTuple):
    pause: Pause | None
    change: LevelChange | None


NOTHING = Outcome(None, None)


def is_stretch(a: Answer) -> bool:
    return a.intensity == a.comfort_level + 1


def adapt(counted: Sequence[Answer], latest: Answer, level: int, now: datetime) -> Outcome:
    """What one new or changed answer (`latest`, also among `counted`) moves, given the
    counted answers in occurrence order and the current comfort level."""
    if latest.answer == "didnt_go":
        return NOTHING
    pause = None
    if latest.answer == "too_much":
        pause = Pause(
            now + STRETCH_PAUSE,
            "one felt like too much: stretch suggestions rest for 14 days",
            (latest.id,),
        )
    last_two = [a for a in counted if a.answer != "didnt_go"][-2:]
    ids = tuple(a.id for a in last_two)
    change = None
    if len(last_two) == 2:
        if all(a.answer == "went_fine" and is_stretch(a) for a in last_two) and level < HIGHEST:
            change = LevelChange(
                "raised", level + 1, "the last two steps up went fine: one level up", ids
            )
        elif all(a.answer == "too_much" for a in last_two) and level > LOWEST:
            change = LevelChange(
                "lowered", level - 1, "the last two felt like too much: one level gentler", ids
            )
    return Outcome(pause, change)
