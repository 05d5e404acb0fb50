"""Validation errors in words: which field, by its wire name, and why.

msgspec says `Expected `str` matching regex '^…$' - at `$.venue.name``; a client needs
`venue.name` and "may not contain control characters". The words for patterns and long
vocabularies come from where the types are declared (`shared.models.common`).
"""

from __future__ import annotations

import re
from typing import Any

from msgspec import inspect

from shared.models.common import PATTERN_REASONS, VOCABULARY_REASONS

BODY = "body"  # the name of the whole body, when the error is not about one field
# A vocabulary this short is listed in the reason; a longer one says what it is instead.
LISTED_VALUES = 12

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_SEGMENT = re.compile(r"\.(?P<name>[^.\[]+)|\[(?P<index>\d+)\]|\[\.\.\.\]")
# A rule a model states in `__post_init__` names its fields first: "to: must differ".
_NAMED = re.compile(r"^(?P<fields>[a-z_][a-z0-9_]*(?:[./][a-z_][a-z0-9_]*)*): (?P<reason>.+)$")
_TYPES = {
    "str": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}
_BOUNDS = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}
_UNITS = {"str": "characters", "array": "items", "object": "entries"}

Segment = str | int | None  # a field name, a list index, or a dict key msgspec leaves out


def _segments(path: str) -> list[Segment]:
    out: list[Segment] = []
    for match in _SEGMENT.finditer(path):
        if match["name"] is not None:
            out.append(match["name"])
        elif match["index"] is not None:
            out.append(int(match["index"]))
        else:
            out.append(None)
    return out


def wire_name(segments: list[Segment]) -> str:
    """`venue.name`, `tags[2]`, `availability[0].from`; dict keys are left out."""
    name = ""
    for seg in segments:
        if isinstance(seg, str):
            name = f"{name}.{seg}" if name else seg
        elif isinstance(seg, int):
            name = f"{name}[{seg}]"
    return name or BODY


def _members(info: Any) -> list[Any]:
    if isinstance(info, inspect.Metadata):
        info = info.type
    if isinstance(info, inspect.UnionType):
        return [m.type if isinstance(m, inspect.Metadata) else m for m in info.types]
    return [info]


def _step(info: Any, seg: Segment) -> Any:
    for member in _members(info):
        if isinstance(seg, str) and isinstance(member, inspect.StructType):
            for field in member.fields:
                if field.encode_name == seg:
                    return field.type
        elif isinstance(seg, int) and isinstance(
            member, inspect.ListType | inspect.SetType | inspect.VarTupleType
        ):
            return member.item_type
        elif seg is None and isinstance(member, inspect.DictType):
            return member.value_type
    return None


def _type_at(target: Any, segments: list[Segment]) -> Any:
    if target is None:
        return None
    try:
        info = inspect.type_info(target)
    except (TypeError, ValueError):
        return None
    for seg in segments:
        info = _step(info, seg)
        if info is None:
            return None
    return info


def _number(text: str) -> str:
    return text.removesuffix(".0")


def _type_words(spelled: str) -> str:
    return " or ".join(_TYPES.get(t.strip(), t.strip()) for t in spelled.split("|"))


def _enum_reason(value: str, info: Any) -> str:
    for member in _members(info):
        if isinstance(member, inspect.LiteralType):
            values = [str(v) for v in member.values]
            if reason := VOCABULARY_REASONS.get(frozenset(values)):
                return f"{value} {reason}"
            if len(values) <= LISTED_VALUES:
                return f"{value} is not one of: {', '.join(values)}"
    return f"{value} is not one of the allowed values"


def _pattern_reason(spelled: str) -> str:
    for pattern, reason in PATTERN_REASONS.items():
        if spelled == repr(pattern):
            return reason
    return "does not have the expected form"


def describe(message: str, path: list[Segment], target: Any = None) -> tuple[str, str]:
    """(wire field name, reason in words) for one msgspec message at `path` (segments)
    within a value of type `target` (None when not known)."""
    if m := re.fullmatch(r"Object missing required field `(.+)`", message):
        return wire_name([*path, m[1]]), "is required"
    if m := re.fullmatch(r"Object contains unknown field `(.+)`", message):
        return wire_name([*path, m[1]]), "is not a field of this object"
    if m := re.fullmatch(r"Invalid enum value (.+)", message):
        return wire_name(path), _enum_reason(m[1], _type_at(target, path))
    if m := re.fullmatch(r"Expected `str` matching regex (.+)", message):
        return wire_name(path), _pattern_reason(m[1])
    if m := re.fullmatch(r"Expected `(\w+)` of length (>=|<=) (\d+)", message):
        kind, bound, size = m[1], m[2], m[3]
        if bound == ">=" and size == "1":
            return wire_name(path), "must not be empty"
        unit = _UNITS.get(kind, "")
        verb = "must be" if kind == "str" else "must have"
        return wire_name(path), f"{verb} {_BOUNDS[bound]} {size} {unit}".rstrip()
    if m := re.fullmatch(r"Expected `(\w+)` (>=|>|<=|<) (\S+)", message):
        return wire_name(path), f"must be {_BOUNDS[m[2]]} {_number(m[3])}"
    if m := re.fullmatch(r"Expected `([^`]+)`, got `([^`]+)`", message):
        return wire_name(path), f"must be {_type_words(m[1])}, not {_type_words(m[2])}"
    if message == "Number out of range":
        return wire_name(path), "is a number out of range"
    if m := _NAMED.match(message):
        names = [wire_name([*path, *_segments("." + n)]) for n in m["fields"].split("/")]
        return "/".join(names), m["reason"]
    return wire_name(path), message


def describe_msgspec(error_text: str, target: Any = None) -> tuple[str, str]:
    """The same for a msgspec ValidationError's text (message and path together)."""
    m = _AT.match(error_text)
    assert m is not None  # the pattern matches any text
    return describe(m["message"], _segments(m["path"] or ""), target)
