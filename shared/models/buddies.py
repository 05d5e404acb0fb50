"""A trusted person on the wire: the invite, redeeming its code, and the link as shown.

Codes are read aloud, so their alphabet leaves out what is easily confused (0/O, 1/l/I);
a code is accepted in any case, with or without its dashes and spaces.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from msgspec import Meta

from shared.models.common import Base, pattern_with_reason

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 symbols: no 0, O, 1, I, L
CODE_LENGTH = 12  # 12 x log2(31), about 59 bits
CODE_GROUP = 4
_SYMBOL = "[2-9A-HJKMNP-Za-hjkmnp-z]"
CODE_PATTERN = pattern_with_reason(
    rf"^[ -]*({_SYMBOL}[ -]*){{{CODE_LENGTH}}}$(?!\n)",
    f"must be the {CODE_LENGTH}-character code from the invite, like KQ7M-4XTR-9PWD "
    "(letters and digits without 0, O, 1, I or L; dashes and spaces are fine)",
)
_SEPARATORS = re.compile(r"[ -]")


def normalise_code(text: str) -> str:
    """The code as it is hashed: upper case, without dashes and spaces."""
    return _SEPARATORS.sub("", text).upper()


def grouped(code: str) -> str:
    """`KQ7M4XTR9PWD` as it is shown and read out: `KQ7M-4XTR-9PWD`."""
    return "-".join(code[i : i + CODE_GROUP] for i in range(0, len(code), CODE_GROUP))


WHAT_LINKING_SHOWS = (
    "Give this code to one person you trust. Once they enter it, you are linked: each of "
    "you sees which of your own suggestions the other also has, so you could go together. "
    "Neither of you sees anything else of the other: not their answers, their home, how "
    "busy an event may feel for them, or any suggestion that is not also your own. Either "
    "of you can unlink at any time. The code works once, within 7 days."
)


class BuddyInvite(Base, kw_only=True):
    code: str
    expires_at: datetime
    what_linking_shows: str = WHAT_LINKING_SHOWS


class BuddyRedeem(Base, kw_only=True):
    code: Annotated[str, Meta(max_length=40, pattern=CODE_PATTERN)]


class Buddy(Base, kw_only=True):
    """The other person, as much as linking shows: the name they gave, and since when."""

    display_name: str | None
    since: datetime
