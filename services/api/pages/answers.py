"""The sign-up answers as a form: reading posted fields into the API's wire values (checked
by the same msgspec models POST /v1/profiles and PATCH /v1/me use), the plain words for
each problem, and a stored profile back into form values for editing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from shared.models.profiles import Profile, ProfileCreate, ProfileUpdate

Answers = dict[str, list[str]]
Errors = dict[str, str]  # form field key -> the problem in plain words

RADIUS_CHOICES = ("1", "2", "5", "10", "25")
PACE_CHOICES = ("1", "2", "3", "5")
WEIGHTS = {"love": 1.0, "like": 0.6}
TIME_SLOTS = {
    "morning": ("06:00", "12:00"),
    "afternoon": ("12:00", "17:00"),
    "evening": ("17:00", "24:00"),
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = dict(
    zip(
        DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
TAG_PREFIX = "tag-"
# Fields that only steer the form, never answers.
CONTROL_FIELDS = frozenset({"_csrf_token", "step", "go", "address"})

# The wire field an answer ends up in -> the form field key its problem is shown next to.
FIELD_OF_WIRE = {
    "home": "where",
    "radius_km": "radius_km",
    "interests": "interests",
    "comfort_level": "comfort_level",
    "open_to_stretch": "comfort_level",
    "adapt_comfort": "comfort_level",
    "formats": "formats",
    "max_cost_cents": "cost",
    "currency": "cost",
    "languages": "languages",
    "accessibility_needs": "access",
    "seeking": "support",
    "availability": "times",
    "timezone": "timezone",
    "max_events_per_week": "max_events_per_week",
    "display_name": "display_name",
    "feed_style": "feed_style",
    "calendar_label": "calendar_label",
}
# When the model refuses a value, the page says why in these words.
PROBLEMS = {
    "where": "That place is not on the map. A latitude is between -90 and 90, a longitude "
    "between -180 and 180.",
    "radius_km": "Choose a distance between 0.1 and 200 km.",
    "interests": "Topics are short words or phrases, like board games or walking, up to 50.",
    "comfort_level": "Choose the one that feels closest.",
    "formats": "Choose at least one: in person, online, or both.",
    "cost": "Enter an amount of money, like 5 or 7.50, and choose its currency.",
    "languages": "Use two-letter language codes, like en for English or de for German.",
    "access": "Choose from the list.",
    "support": "Choose from the list.",
    "times": "Choose times from the week grid.",
    "timezone": "Choose a time zone from the list.",
    "max_events_per_week": "Choose how many a week, from 1 to 50.",
    "display_name": "A name can be up to 80 characters, on one line.",
    "feed_style": "Choose one of the two.",
    "calendar_label": "A label can be up to 40 characters, on one line.",
}


def answers_from_form(form: Any) -> Answers:
    """Every posted answer with all its values (checkboxes repeat a name)."""
    answers: Answers = {}
    for key in form:
        if key in CONTROL_FIELDS:
            continue
        values = [v for v in form.getall(key) if isinstance(v, str)]
        answers[key] = [v.strip() for v in values]
    return answers


def first(answers: Mapping[str, list[str]], key: str) -> str:
    values = answers.get(key) or [""]
    return values[0]


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ".").strip())
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None  # no NaN/inf


def _words(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,;\n]", text) if part.strip()]


def read_where(answers: Answers, errors: Errors) -> dict[str, Any]:
    lat, lon = first(answers, "lat"), first(answers, "lon")
    if not lat and not lon:
        errors["where"] = "Tell us roughly where you are: a place, your location, or coordinates."
        return {}
    lat_value, lon_value = _number(lat), _number(lon)
    if lat_value is None or lon_value is None:
        errors["where"] = "Enter both coordinates as numbers, like 52.520 and 13.405."
        return {}
    return {"home": {"lat": lat_value, "lon": lon_value}}


def read_radius(answers: Answers, errors: Errors) -> dict[str, Any]:
    choice = first(answers, "radius_km")
    if choice == "other":
        value = _number(first(answers, "radius_other"))
        if value is None:
            errors["radius_km"] = "Enter a distance in kilometres, like 3 or 7.5."
            return {}
        return {"radius_km": value}
    if choice not in RADIUS_CHOICES:
        errors["radius_km"] = "Choose how far you would go."
        return {}
    return {"radius_km": float(choice)}


def read_interests(answers: Answers, errors: Errors) -> dict[str, Any]:
    interests: dict[str, float] = {}
    for key, values in answers.items():
        if key.startswith(TAG_PREFIX) and values and values[0] in WEIGHTS:
            interests[key.removeprefix(TAG_PREFIX)] = WEIGHTS[values[0]]
    for topic in _words(first(answers, "interests_other")):
        interests.setdefault(topic, WEIGHTS["like"])
    return {"interests": interests}


def read_comfort(answers: Answers, errors: Errors) -> dict[str, Any]:
    level = first(answers, "comfort_level")
    if not level.isdigit():
        errors["comfort_level"] = "Choose the one that feels closest."
        return {}
    return {
        "comfort_level": int(level),
        "open_to_stretch": bool(answers.get("open_to_stretch")),
        "adapt_comfort": bool(answers.get("adapt_comfort")),
    }


def read_formats(answers: Answers, errors: Errors) -> dict[str, Any]:
    # Unticked boxes post nothing: `formats_seen` tells "none ticked" from "not asked".
    if not answers.get("formats_seen") and not answers.get("formats"):
        return {}
    return {"formats": list(answers.get("formats", []))}


def read_cost(answers: Answers, errors: Errors) -> dict[str, Any]:
    choice = first(answers, "cost") or "any"
    currency = first(answers, "currency") or "EUR"
    if choice == "any":
        return {"max_cost_cents": None, "currency": None}
    if choice == "free":
        return {"max_cost_cents": 0, "currency": currency}
    try:
        amount = Decimal(first(answers, "cost_amount").replace(",", "."))
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        errors["cost"] = "Enter an amount of money, like 5 or 7.50."
        return {}
    return {"max_cost_cents": int(amount * 100), "currency": currency}


def read_languages(answers: Answers, errors: Errors) -> dict[str, Any]:
    codes = list(answers.get("languages", []))
    codes += [w.lower() for w in re.split(r"[\s,;]+", first(answers, "languages_other")) if w]
    return {"languages": codes}


def read_access(answers: Answers, errors: Errors) -> dict[str, Any]:
    return {"accessibility_needs": list(answers.get("access", []))}


def read_support(answers: Answers, errors: Errors) -> dict[str, Any]:
    return {"seeking": list(answers.get("support", []))}


def read_times(answers: Answers, errors: Errors) -> dict[str, Any]:
    chosen = set(answers.get("slots", []))
    windows = []
    for part, (start, end) in TIME_SLOTS.items():
        days = [day for day in DAYS if f"{day}-{part}" in chosen]
        if days:
            windows.append({"days": days, "from": start, "to": end})
    known = {f"{day}-{part}" for day in DAYS for part in TIME_SLOTS}
    if chosen - known:
        errors["times"] = PROBLEMS["times"]
        return {}
    return {"availability": windows}


def read_timezone(answers: Answers, errors: Errors) -> dict[str, Any]:
    zone = first(answers, "timezone")
    return {"timezone": zone} if zone else {}


def read_pace(answers: Answers, errors: Errors) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    pace = first(answers, "max_events_per_week")
    if pace:
        if not pace.isdigit():
            errors["max_events_per_week"] = PROBLEMS["max_events_per_week"]
        else:
            wire["max_events_per_week"] = int(pace)
    return wire


def read_name(answers: Answers, errors: Errors) -> dict[str, Any]:
    name = first(answers, "display_name")
    return {"display_name": name} if name else {}


def read_calendar(answers: Answers, errors: Errors) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    if style := first(answers, "feed_style"):
        wire["feed_style"] = style
    if label := first(answers, "calendar_label"):
        wire["calendar_label"] = label
    return wire


def check_fields(wire: Mapping[str, Any], errors: Errors) -> None:
    """Each wire field through the API's own model (ProfileUpdate holds every field with the
    same constraints as ProfileCreate), one at a time, so every problem is named at once."""
    for name, value in wire.items():
        field = FIELD_OF_WIRE[name]
        if field in errors:
            continue
        try:
            msgspec.convert({name: value}, ProfileUpdate)
        except msgspec.ValidationError:
            errors[field] = PROBLEMS[field]


def check_profile(wire: Mapping[str, Any], errors: Errors) -> ProfileCreate | None:
    """The whole profile through ProfileCreate (cross-field rules included), as POST
    /v1/profiles checks it; None with `errors` filled when refused."""
    check_fields(wire, errors)
    if errors:
        return None
    try:
        return msgspec.convert(dict(wire), ProfileCreate)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = next((f for w, f in FIELD_OF_WIRE.items() if w in message), "where")
        errors[field] = PROBLEMS[field]
        return None


def read_all(answers: Answers, readers: Iterable[Any], errors: Errors) -> dict[str, Any]:
    wire: dict[str, Any] = {}
    for reader in readers:
        wire.update(reader(answers, errors))
    return wire


def answers_of_profile(profile: Profile) -> Answers:
    """A stored profile as the values of the answers form (to edit them)."""
    radius = f"{profile.radius_km:g}"
    answers: Answers = {
        "lat": [f"{profile.home.lat:.3f}"],
        "lon": [f"{profile.home.lon:.3f}"],
        "radius_km": [radius if radius in RADIUS_CHOICES else "other"],
        "radius_other": [radius if radius not in RADIUS_CHOICES else ""],
        "comfort_level": [str(profile.comfort_level)],
        "formats": list(profile.formats),
        "languages": list(profile.languages),
        "access": list(profile.accessibility_needs),
        "support": list(profile.seeking),
        "timezone": [profile.timezone],
        "max_events_per_week": [str(profile.max_events_per_week)],
        "display_name": [profile.display_name or ""],
        "feed_style": [profile.feed_style],
        "calendar_label": [profile.calendar_label],
    }
    if profile.open_to_stretch:
        answers["open_to_stretch"] = ["on"]
    if profile.adapt_comfort:
        answers["adapt_comfort"] = ["on"]
    for tag, weight in profile.interests.items():
        answers[TAG_PREFIX + tag] = ["love" if weight >= 0.8 else "like"]
    if profile.max_cost_cents is None:
        answers["cost"] = ["any"]
    elif profile.max_cost_cents == 0:
        answers["cost"] = ["free"]
    else:
        answers["cost"] = ["upto"]
        answers["cost_amount"] = [f"{profile.max_cost_cents / 100:.2f}"]
    answers["currency"] = [profile.currency or "EUR"]
    slots = []
    for window in profile.availability:
        for part, (start, end) in TIME_SLOTS.items():
            if (window.start, window.end) == (start, end):
                slots += [f"{day}-{part}" for day in window.days]
    answers["slots"] = slots
    return answers


def times_fit_grid(profile: Profile) -> bool:
    """Whether the stored windows are all grid slots (else editing the grid replaces them)."""
    return all((w.start, w.end) in TIME_SLOTS.values() for w in profile.availability)
