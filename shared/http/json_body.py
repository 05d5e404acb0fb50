"""How a JSON request body becomes a Struct: its nesting bounded before anything parses
it, numbers out of float range named as the field they are in, text that may have lines
normalised, then msgspec's strict conversion.
"""

from __future__ import annotations

import math
import re
from array import array
from functools import lru_cache
from itertools import accumulate
from typing import Any

import msgspec
from msgspec import inspect

from shared.http.field_errors import Segment, describe_msgspec, wire_name
from shared.http.problems import BadRequest, Invalid
from shared.models.common import MULTILINE, multiline

MAX_DEPTH = 10  # SPEC: JSON nested deeper than this is refused with 400

_ESCAPED = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 to open, -1 (signed) to close


def nesting_depth(body: bytes) -> int:
    """How deep the brackets outside strings go, without parsing (and so without recursion)."""
    brackets = _STRING.sub(b"", _ESCAPED.sub(b"", body)).translate(None, _NOT_BRACKETS)
    return max(accumulate(array("b", brackets.translate(_STEPS))), default=0)


def check_nesting(body: bytes) -> None:
    if nesting_depth(body) > MAX_DEPTH:
        raise BadRequest(f"the request body is nested deeper than {MAX_DEPTH} levels")


class _OutOfRange:
    """Stands in for a number too large for a float until its place is known."""


def _out_of_range_at(value: Any, path: list[Segment]) -> list[Segment] | None:
    if isinstance(value, _OutOfRange):
        return path
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if (found := _out_of_range_at(item, [*path, key])) is not None:
                return found
    return None


def decode_json(body: bytes) -> Any:
    """Untyped JSON. 400 when it is not JSON; 422 naming the field of a number that is valid
    JSON but beyond a float (`1e309`). Integral numbers become ints (`3.0` is an integer to
    JSON Schema, not to msgspec's strict mode)."""
    overflowed = False

    def number(text: str) -> Any:
        nonlocal overflowed
        value = float(text)
        if math.isinf(value):
            overflowed = True
            return _OutOfRange()
        return int(value) if value.is_integer() else value

    try:
        raw = msgspec.json.Decoder(float_hook=number).decode(body)
    except msgspec.ValidationError as exc:  # a DecodeError too, but the JSON was valid
        raise Invalid.field(*describe_msgspec(str(exc))) from None
    except msgspec.DecodeError:
        raise BadRequest("the request body is not valid JSON") from None
    if overflowed and (path := _out_of_range_at(raw, [])) is not None:
        raise Invalid.field(wire_name(path), "is a number out of range")
    return raw


@lru_cache(maxsize=256)
def _type_info(annotation: Any) -> Any:
    return inspect.type_info(annotation)


def _normalise(value: Any, info: Any) -> Any:
    members = info.types if isinstance(info, inspect.UnionType) else (info,)
    for member in members:
        if isinstance(member, inspect.Metadata):
            if isinstance(value, str) and (member.extra or {}).get(MULTILINE):
                return multiline(value)
            member = member.type
        if isinstance(member, inspect.StructType) and isinstance(value, dict):
            for field in member.fields:
                if field.encode_name in value:
                    value[field.encode_name] = _normalise(value[field.encode_name], field.type)
            return value
        if isinstance(member, inspect.ListType) and isinstance(value, list):
            return [_normalise(item, member.item_type) for item in value]
        if isinstance(member, inspect.DictType) and isinstance(value, dict):
            return {k: _normalise(v, member.value_type) for k, v in value.items()}
    return value


def decode_struct(body: bytes, annotation: Any) -> Any:
    """The body as `annotation` (a Struct type), or the 400/422 that says why not."""
    check_nesting(body)
    raw = _normalise(decode_json(body), _type_info(annotation))
    # A ValidationError is a 422 naming the field (mapped in shared.http.problems).
    return msgspec.convert(raw, annotation, strict=True)
