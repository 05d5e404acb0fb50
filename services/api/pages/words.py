"""The everyday words the pages use for the API's values: access features, languages,
comfort levels, group sizes. Words only; every rule stays in shared/.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from shared.models.codes import iana_zones

# The support kinds as the sign-up offers them (SPEC "Support"), in the vocabulary's order.
SUPPORT_CHOICES = {
    "companionship": "Company: doing something alongside others",
    "emotional": "A listening ear: being heard and understood",
    "practical": "Practical help with everyday things",
    "informational": "Advice: knowledge, or where to find help",
}
ACCESS_WORDS = {
    "step_free": "Step-free entrance",
    "wheelchair": "Wheelchair accessible",
    "quiet_room": "A quiet room to step away to",
    "transit_nearby": "Public transport nearby",
    "hearing_loop": "Hearing loop",
    "accessible_toilet": "Accessible toilet",
    "seating": "Seating available",
    "sign_language": "Sign language",
    "large_print": "Large print materials",
    "parking": "Parking nearby",
}

# ISO 639-1 codes people meet most often; any other code is shown as it is.
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "bn": "Bengali",
    "cs": "Czech",
    "cy": "Welsh",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "ga": "Irish",
    "he": "Hebrew",
    "hi": "Hindi",
    "hu": "Hungarian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "ku": "Kurdish",
    "nl": "Dutch",
    "no": "Norwegian",
    "pa": "Punjabi",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "so": "Somali",
    "sv": "Swedish",
    "ti": "Tigrinya",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "zh": "Chinese",
}

STRUCTURE_WORDS = {
    "structured": "There is a clear activity to follow.",
    "semi": "There is an activity, with time to chat around it.",
    "open": "It is open mingling, without a set activity.",
}
NOISE_WORDS = {
    "quiet": "It is quiet.",
    "moderate": "The noise is moderate.",
    "loud": "It can get loud.",
}

# The five comfort levels told as situations (level 1 is the gentlest).
COMFORT_LEVELS = {
    1: "A few people doing something quiet together. You can just listen.",
    2: "A small group with a clear activity, like a book club or a short walk.",
    3: "A group of a dozen or two, some chatting, like a games night or a workshop.",
    4: "A bigger group where people mingle, like a community meetup.",
    5: "A big, lively gathering. Anything goes.",
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def group_words(group_size: int) -> str:
    if group_size == 1:
        return "Just you and a host."
    return f"About {group_size} people."


# Offered first in the cost question; the currencies of events in reach join them.
COMMON_CURRENCIES = ("EUR", "GBP", "USD", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "CAD", "AUD")


# Names the zoneinfo folder may hold beside the IANA Area/City zones.
_NOT_ZONES = ("Etc/", "SystemV/", "US/", "posix/", "right/")


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """IANA zone names to choose from (Area/City, and UTC); the model checks the answer."""
    zones = (z for z in iana_zones() if "/" in z and not z.startswith(_NOT_ZONES))
    return (*sorted(zones), "UTC")


def currencies_for(in_reach: Iterable[str]) -> list[str]:
    return sorted(set(COMMON_CURRENCIES) | set(in_reach))


# The three check-in answers as buttons, as said back, and the kind word after each.
CHECKIN_BUTTONS = {
    "went_fine": "It went fine",
    "too_much": "It was too much",
    "didnt_go": "I didn't go",
}
CHECKIN_SAID = {
    "went_fine": "it went fine",
    "too_much": "it was too much",
    "didnt_go": "you didn't go",
}
CHECKIN_THANKS = {
    "went_fine": "Good to hear. Well done for going.",
    "too_much": "Thank you for saying so. Going at all took something, and some days are a "
    "lot. Take it gently.",
    "didnt_go": "That's all right. Nothing changes because of it, and there will be other times.",
}
