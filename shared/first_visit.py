"""What a newcomer can expect at an event, said as short sentences (SPEC "What to expect"):
the standard feed writes them under "First time?", the event's page lists them.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.models.events import FirstVisit

HEADING = "First time?"
QUIET_ROOM = "There is a quiet room."
LEAVING_EARLY = "Leaving early is fine."


def _sentence(text: str) -> str:
    """The organiser's words as one sentence: a capital first, a full stop last."""
    text = text.strip()
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def first_visit_sentences(
    first_visit: FirstVisit | None, accessibility: Iterable[str]
) -> list[str]:
    """The sentences, greeter first; the quiet room comes from `accessibility`, so an event
    without `first_visit` may still have one. Empty when there is nothing to say."""
    sentences: list[str] = []
    if first_visit is not None:
        if first_visit.greeter:
            sentences.append(_sentence(first_visit.greeter))
        if first_visit.how_to_find:
            sentences.append(_sentence("Finding it: " + first_visit.how_to_find))
        if first_visit.what_to_bring:
            sentences.append(_sentence("What to bring: " + first_visit.what_to_bring))
        if first_visit.leaving_early_ok:
            sentences.append(LEAVING_EARLY)
    if "quiet_room" in accessibility:
        sentences.append(QUIET_ROOM)
    return sentences
