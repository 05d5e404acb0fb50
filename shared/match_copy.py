"""Match rows in PostgreSQL's binary COPY format, built from column arrays with numpy:
millions of rows in a fraction of a second, where a Python tuple per row costs seconds.

Every field has a fixed width except `distance_km`, which is NULL for pairs that cannot
meet in person, so rows with and without a distance are two fixed layouts (COPY keeps no
row order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from shared.bulk_scoring import Matches
from shared.db.explanations import ids_for
from shared.db.matches import COLUMNS

KNOWN_LIMIT = 500_000  # a cache of ids that outgrows this (~50 MB) starts again

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"

# (column, type, width) in COLUMNS order; each field is preceded by its byte length.
_FIELDS = (
    ("profile_id", ">i8", 8),
    ("event_id", ">i8", 8),
    ("distance_km", ">f4", 4),
    ("online", "u1", 1),
    ("interest_score", ">f4", 4),
    ("comfort_gap", ">i2", 2),
    ("explanation_id", ">i4", 4),
    ("support", ">f4", 4),
)
assert tuple(name for name, _, _ in _FIELDS) == COLUMNS


def _layout(*, with_km: bool) -> np.dtype[np.void]:
    parts: list[tuple[str, str]] = [("count", ">i2")]
    for name, kind, _ in _FIELDS:
        parts.append((f"{name}_len", ">i4"))
        if with_km or name != "distance_km":
            parts.append((name, kind))
    return np.dtype(parts)


_WITH_KM = _layout(with_km=True)
_WITHOUT_KM = _layout(with_km=False)


def _key_order(matches: Matches, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """`rows` in (profile_id, event_id) order."""
    if len(rows) < 2:
        return rows
    p, e = matches.profile_id[rows], matches.event_id[rows]
    low = int(p.min())
    if int(p.max()) - low < 2**16 and bool((e[1:] >= e[:-1]).all()):
        # The scorer emits event by event, so a stable sort by profile alone is enough,
        # and on 16-bit keys numpy's stable sort is a radix sort: linear, not n log n.
        return rows[np.argsort((p - low).astype(np.uint16), kind="stable")]
    if low >= 0 and int(e.min()) >= 0 and max(int(p.max()), int(e.max())) < 2**31:
        return rows[np.argsort((p << 31) | e)]  # one int64 key: faster than a lexsort
    return rows[np.lexsort((e, p))]


def copy_order(matches: Matches) -> tuple[npt.NDArray[np.intp], int]:
    """Row order for the payload and how many rows have a distance: those first, then the
    online ones, each group in (profile_id, event_id) order, the primary key's, which
    PostgreSQL indexes faster than the scorer's event order."""
    online = np.isnan(matches.distance_km)
    with_km = _key_order(matches, np.flatnonzero(~online))
    return np.concatenate([with_km, _key_order(matches, np.flatnonzero(online))]), len(with_km)


def _template(layout: np.dtype[np.void]) -> npt.NDArray[np.void]:
    """A row's constant fields: the field count and each field's length."""
    row = np.zeros((), layout)
    row["count"] = len(_FIELDS)
    names = layout.names or ()
    for name, _, width in _FIELDS:
        row[f"{name}_len"] = width if name in names else -1  # -1: NULL, no bytes
    return row


def encode(matches: Matches, explanation_ids: npt.NDArray[np.int32]) -> memoryview:
    """The whole COPY payload (rows in `copy_order`), written in place into one buffer:
    `explanation_ids[code]` is the stored id of `texts[code]`."""
    columns: dict[str, npt.NDArray[Any]] = {
        "profile_id": matches.profile_id,
        "event_id": matches.event_id,
        "distance_km": matches.distance_km,
        "online": matches.online,
        "interest_score": matches.interest,
        "comfort_gap": matches.comfort_gap,
        "explanation_id": explanation_ids[matches.explanation_code],
        "support": matches.support,
    }
    order, with_km = copy_order(matches)
    groups = ((_WITH_KM, order[:with_km]), (_WITHOUT_KM, order[with_km:]))
    size = len(HEADER) + sum(layout.itemsize * len(rows) for layout, rows in groups)
    buffer = np.empty(size + len(TRAILER), np.uint8)
    buffer[: len(HEADER)] = np.frombuffer(HEADER, np.uint8)
    buffer[size:] = np.frombuffer(TRAILER, np.uint8)
    offset = len(HEADER)
    for layout, rows in groups:
        out = np.ndarray((len(rows),), layout, buffer=buffer, offset=offset)
        out[...] = _template(layout)
        for name in columns:
            if name in (layout.names or ()):
                out[name] = columns[name][rows]
        offset += layout.itemsize * len(rows)
    return buffer.data


async def code_ids(
    conn: asyncpg.Connection, texts: Sequence[str], known: dict[str, int] | None = None
) -> npt.NDArray[np.int32]:
    """The ids of `texts` as an array aligned with them (a bulk scorer's explanation codes
    index it; shared.match_copy.encode). `known` caches ids across calls on one database:
    a text's id never changes (rows are never deleted), so only new texts are looked up."""
    known = {} if known is None else known
    missing = [t for t in set(texts) if t not in known]
    if missing:
        if len(known) > KNOWN_LIMIT:
            known.clear()
        known.update(await ids_for(conn, missing))
    return np.array([known[t] for t in texts] or [0], dtype=np.int32)
