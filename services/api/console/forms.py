"""The weights form: what each control is, what it does, and reading a posted form into
the API's own Structs (the same validation as `PUT /v1/admin/weights`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from shared.models.weights import LATER_FIELDS, WEIGHT_FIELDS, PreviewRequest, WeightsUpdate


class Field(NamedTuple):
    name: str
    label: str
    help: str
    min: float
    max: float  # of the slider; the number field accepts what the API accepts
    step: float


FIELDS = (
    Field(
        "distance",
        "Distance weight",
        "How much being close to home counts in a match's score.",
        0,
        5,
        0.05,
    ),
    Field(
        "interest",
        "Interest weight",
        "How much sharing the user's interests counts in a match's score.",
        0,
        5,
        0.05,
    ),
    Field(
        "comfort",
        "Comfort weight",
        "How much an event's gentleness, against the user's comfort level, counts.",
        0,
        5,
        0.05,
    ),
    Field(
        "support",
        "Support weight",
        "How much an event giving the kinds of support a user would like counts (left out"
        " when the user seeks none or the event names none).",
        0,
        5,
        0.05,
    ),
    Field(
        "distance_decay_km",
        "Distance decay (km)",
        "How fast nearness fades: at this distance the distance score has dropped to 37 %.",
        0.5,
        30,
        0.5,
    ),
    Field(
        "online_score",
        "Online score",
        "The distance score an online event gets, since it needs no travel.",
        0,
        1,
        0.01,
    ),
    Field(
        "stretch_penalty",
        "Stretch penalty",
        "How much the comfort score drops for a one-step stretch above the user's comfort.",
        0,
        1,
        0.01,
    ),
    Field(
        "min_score",
        "Minimum score",
        "Matches scoring below this are not suggested at all.",
        0,
        1,
        0.01,
    ),
    Field(
        "together_bonus",
        "Together bonus",
        "Added to the score of an event that suits both people of a trusted pair, at a time"
        " both are free, so they could go together.",
        0,
        1,
        0.01,
    ),
)
assert tuple(f.name for f in FIELDS) == WEIGHT_FIELDS


def _numbers(form: dict[str, str], errors: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in WEIGHT_FIELDS:
        raw = (form.get(name) or "").strip()
        if not raw and name in LATER_FIELDS:
            continue  # left out: the active version's, as the API does
        try:
            values[name] = float(raw)
        except ValueError:
            errors[name] = "must be a number"
    return values


def _errors_of(exc: msgspec.ValidationError) -> dict[str, str]:
    message = str(exc)
    for name in ("note", "author", "sample_size", "seed", *WEIGHT_FIELDS):
        if f"`$.{name}`" in message or f"`$.weights.{name}`" in message:
            return {name: message.split(" - at ")[0]}
    return {"weights": message.split(" - at ")[0]}


def parse_update(form: dict[str, str]) -> tuple[WeightsUpdate | None, dict[str, str]]:
    errors: dict[str, str] = {}
    values = _numbers(form, errors)
    if errors:
        return None, errors
    values["note"] = (form.get("note") or "").strip()
    author = (form.get("author") or "").strip()
    if author:
        values["author"] = author
    try:
        return msgspec.convert(values, WeightsUpdate), {}
    except msgspec.ValidationError as exc:
        return None, _errors_of(exc)


def parse_preview(form: dict[str, str]) -> tuple[PreviewRequest | None, dict[str, str]]:
    errors: dict[str, str] = {}
    values = _numbers(form, errors)
    if errors:
        return None, errors
    body: dict[str, Any] = {"weights": values}
    for name in ("sample_size", "seed"):
        raw = (form.get(name) or "").strip()
        if raw:
            try:
                body[name] = int(raw)
            except ValueError:
                return None, {name: "must be a whole number"}
    try:
        return msgspec.convert(body, PreviewRequest), {}
    except msgspec.ValidationError as exc:
        return None, _errors_of(exc)
