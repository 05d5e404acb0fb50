"""iCalendar TEXT values escaped exactly per RFC 5545 3.3.11, for every calendar lowkey
writes (the personal feeds and an event's own .ics)."""

from __future__ import annotations

from icalendar import vText


class IcalText(vText):
    """TEXT escaped per RFC 5545 3.3.11.

    icalendar 7.3's own escaping first turns a literal backslash-N into a line
    break, which would corrupt a title such as `C:\\New`.
    """

    def to_ical(self) -> bytes:
        text = str(self).replace("\r\n", "\n").replace("\r", "\n")
        return (
            text.replace("\\", "\\\\")
            .replace(";", "\\;")
            .replace(",", "\\,")
            .replace("\n", "\\n")
            .encode()
        )
