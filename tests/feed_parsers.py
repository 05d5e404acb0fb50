"""Read a feed the way real clients do: ical.js (under node), Python's icalendar (with
recurring-ical-events) and Home Assistant's strict `ical` library.

All readers answer in one shape, so a test can assert they agree:
`{"calendar_name", "events": {uid: {summary, description, location, url,
status, transp, sequence, occurrences}}, "missing_tzids"}`, where
`occurrences` are the UTC starts ("2026-03-03T19:00:00Z") in [start, end).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import icalendar
import pytest
import recurring_ical_events
from ical.calendar_stream import IcsCalendarStream

ROOT = Path(__file__).resolve().parent.parent
EXPAND_SCRIPT = Path(__file__).resolve().parent / "icaljs" / "expand.mjs"


def icaljs_unavailable_reason() -> str | None:
    """Why ical.js cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (ROOT / "node_modules" / "ical.js" / "package.json").exists():
        return "ical.js is not installed (run `npm install` in the repository root)"
    return None


def require_icaljs() -> None:
    """Skip without ical.js, except in CI (CI=true), where its absence is a failure."""
    reason = icaljs_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"ical.js is required in CI: {reason}")
    pytest.skip(reason)


def parse_with_icaljs(ics: bytes, window_start: datetime, window_end: datetime) -> dict[str, Any]:
    """The feed as ical.js reads it, occurrences expanded with its own VTIMEZONEs."""
    require_icaljs()
    completed = subprocess.run(
        ["node", str(EXPAND_SCRIPT), _utc_text(window_start), _utc_text(window_end)],
        input=ics,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"ical.js could not read the feed:\n{completed.stderr.decode()}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def parse_many_with_icaljs(
    feeds: list[tuple[bytes, datetime, datetime]],
) -> list[dict[str, Any]]:
    """`parse_with_icaljs` for each (ics, window start, window end), in one node process."""
    require_icaljs()
    batch = [
        {"ics": ics.decode(), "start": _utc_text(start), "end": _utc_text(end)}
        for ics, start, end in feeds
    ]
    completed = subprocess.run(
        ["node", str(EXPAND_SCRIPT), "--batch"],
        input=json.dumps(batch).encode(),
        capture_output=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise AssertionError(f"ical.js could not read the feeds:\n{completed.stderr.decode()}")
    readings: list[dict[str, Any]] = json.loads(completed.stdout)
    return readings


def parse_with_python(ics: bytes, window_start: datetime, window_end: datetime) -> dict[str, Any]:
    """The feed as icalendar reads it, expanded by recurring_ical_events."""
    calendar = icalendar.Calendar.from_ical(ics)
    defined = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
    missing: set[str] = set()
    events: dict[str, dict[str, Any]] = {}
    for vevent in calendar.walk("VEVENT"):
        for name in ("DTSTART", "DTEND", "EXDATE"):
            for prop in _as_list(vevent.get(name)):
                tzid = prop.params.get("TZID")
                if tzid and tzid not in defined:
                    missing.add(str(tzid))
        events[str(vevent["UID"])] = {
            "summary": _text(vevent, "SUMMARY"),
            "description": _text(vevent, "DESCRIPTION"),
            "location": _text(vevent, "LOCATION"),
            "url": _text(vevent, "URL"),
            "status": _text(vevent, "STATUS"),
            "transp": _text(vevent, "TRANSP"),
            "sequence": int(vevent.get("SEQUENCE", 0)),
            "occurrences": [],
        }
    # recurring_ical_events returns whatever overlaps the window; keep the
    # occurrences that start in it, as the ical.js reader does.
    for occurrence in recurring_ical_events.of(calendar).between(window_start, window_end):
        start = occurrence.decoded("DTSTART").astimezone(UTC)
        if window_start <= start < window_end:
            events[str(occurrence["UID"])]["occurrences"].append(_utc_text(start))
    for event in events.values():
        event["occurrences"].sort()
    return {
        # icalendar has no type for X- properties and keeps their raw TEXT.
        "calendar_name": _unescape(_text(calendar, "X-WR-CALNAME")),
        "events": events,
        "missing_tzids": sorted(missing),
    }


def parse_with_ical(ics: bytes, window_start: datetime, window_end: datetime) -> dict[str, Any]:
    """The feed as Home Assistant's `ical` reads it (strict RFC 5545), expanded on its own
    timeline."""
    calendar = IcsCalendarStream.calendar_from_ics(ics.decode())
    defined = {zone.tz_id for zone in calendar.timezones}
    unfolded = ics.decode().replace("\r\n ", "")
    used = set(re.findall(r"^(?:DTSTART|DTEND|EXDATE);TZID=([^:;]+)", unfolded, re.MULTILINE))
    events: dict[str, dict[str, Any]] = {
        str(event.uid): {
            "summary": event.summary,
            "description": event.description,
            "location": event.location,
            "url": event.url,
            "status": None if event.status is None else str(event.status.value),
            "transp": event.transparency,
            "sequence": event.sequence or 0,
            "occurrences": [],
        }
        for event in calendar.events
    }
    for occurrence in calendar.timeline_tz(UTC).overlapping(window_start, window_end):
        start = occurrence.dtstart
        assert isinstance(start, datetime), "lowkey writes date-times only"
        if window_start <= start < window_end:
            events[str(occurrence.uid)]["occurrences"].append(_utc_text(start))
    for event in events.values():
        event["occurrences"].sort()
    names = [str(x.value) for x in calendar.extras if x.name.lower() == "x-wr-calname"]
    return {
        "calendar_name": _unescape(names[0]) if names else None,
        "events": events,
        "missing_tzids": sorted(used - defined),
    }


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(component: icalendar.cal.Component, name: str) -> str | None:
    value = component.get(name)
    return None if value is None else str(value)


def _unescape(raw: str | None) -> str | None:
    if raw is None:
        return None
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], raw)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
