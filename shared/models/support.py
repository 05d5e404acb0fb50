"""The support vocabulary (SPEC "Support"): the kinds of support an event gives
(`support`) and a user would like (`seeking`), and the plain words the API's explanation
uses for what a match shares (the feed's says nothing of them: they would tell what the
user seeks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal, get_args

from msgspec import Meta

SupportKind = Literal["emotional", "practical", "informational", "companionship"]
SUPPORT_KINDS: tuple[str, ...] = get_args(SupportKind)
SupportKinds = Annotated[list[SupportKind], Meta(max_length=4)]
SUPPORT_WORDS = {
    "companionship": "company",
    "emotional": "a listening ear",
    "practical": "practical help",
    "informational": "advice",
}


def shared_support_words(seeking: Iterable[str], support: Iterable[str]) -> str | None:
    """'company and advice': what the event gives of what the user would like, in the
    vocabulary's order; None when nothing is shared."""
    given = set(support)
    words = [SUPPORT_WORDS[k] for k in SUPPORT_KINDS if k in given and k in set(seeking)]
    if not words:
        return None
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
