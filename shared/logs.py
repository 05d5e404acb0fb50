"""Structured logging: one line per event, JSON off a terminal, a short line on one.

Every process calls `configure_logging` once; stdlib loggers (uvicorn, arq) are routed
through the same formatter. Each line names its part (`api`, `feed`, `worker`, or
`lowkey` for `lowkey up` itself): the process's own, or the one bound with `log_part`
for a task, so the parts sharing one terminal can be told apart. Idle housekeeping (cron
runs, server start-up chatter) is at debug level. Values under keys that name a secret
are replaced before any line is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from datetime import datetime
from typing import IO, Any

import structlog

SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
# stdlib records (ours, uvicorn's, arq's) carry their fields as `extra=`.
FOREIGN_PRE_CHAIN: list[structlog.typing.Processor] = [
    *SHARED_PROCESSORS,
    structlog.stdlib.ExtraAdder(),
]
# Keys whose values are secrets wherever they turn up (a careless `extra=` included).
SECRET_KEY_NAMES = re.compile(
    r"token|secret|password|passwd|authorization|cookie|(^|_)key$|feed_url|webcal", re.I
)
REDACTED = "[redacted]"
# Fields a terminal line leaves out: what the line's head already says, and uvicorn's
# copy of its message with colour codes in it.
_TERMINAL_SKIP = frozenset({"event", "timestamp", "level", "logger", "part", "color_message"})
_PART_WIDTH = 6


def log_part(name: str) -> None:
    """Name the part for every line logged from here on in this task (and the tasks and
    threads it starts): `lowkey up` runs the api and the feed in one process."""
    structlog.contextvars.bind_contextvars(part=name)


def _redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    for key in event:
        if key != "event" and SECRET_KEY_NAMES.search(key):
            event[key] = REDACTED
    return event


def _terminal_line(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
    """`17:46:10 worker  message key=value …`, the level only when it is not info."""
    stamp = event.get("timestamp")
    try:
        clock = datetime.fromisoformat(str(stamp)).astimezone().strftime("%H:%M:%S")
    except ValueError:
        clock = "--:--:--"
    level = str(event.get("level", "info")).lower()
    head = f"{clock} {event.get('part', '')!s:<{_PART_WIDTH}}"
    tag = "" if level in ("info", "debug") else f"{level.upper()}: "
    fields = " ".join(
        f"{key}={_short(value)}"
        for key, value in event.items()
        if key not in _TERMINAL_SKIP and key != "exception"
    )
    line = f"{head} {tag}{event.get('event', '')}" + (f"  {fields}" if fields else "")
    if event.get("exception"):
        line += "\n" + str(event["exception"])
    return line


def _short(value: object) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        text = ",".join(map(str, value))
    else:
        text = value if isinstance(value, str) else repr(value)
    return text if " " not in text else repr(text)


class _Demote(logging.Filter):
    """Turn a library's chatty info records into debug ones (shown only at debug)."""

    def __init__(self, chatty: Any) -> None:
        super().__init__()
        self._chatty = chatty

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and self._chatty(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def _arq_is_chatty(record: logging.LogRecord) -> bool:
    """arq's lines but a job's end or retry: its start lines, its start-up and shutdown
    summaries, and every line about a cron job (ours log at info when they did work)."""
    message = str(record.msg)
    args = record.args if isinstance(record.args, tuple) else ()
    about_cron = any(isinstance(arg, str) and arg.startswith("cron:") for arg in args)
    job_end = "←" in message or "↻" in message
    return about_cron or not job_end


def _uvicorn_is_chatty(record: logging.LogRecord) -> bool:
    """Every info line: start-up and shutdown steps, twice in `lowkey up` (api and
    feed); lowkey itself says where each part listens."""
    return True


def configure_logging(
    level: str = "info",
    *,
    part: str = "lowkey",
    terminal: bool | None = None,
    stream: IO[str] | None = None,
) -> None:
    """Set up the root logger; `terminal` defaults to whether stderr is one."""
    out = stream if stream is not None else sys.stderr
    on_terminal = out.isatty() if terminal is None else terminal
    renderer: structlog.typing.Processor = (
        _terminal_line if on_terminal else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    def default_part(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        event.setdefault("part", part)
        event.pop("color_message", None)
        return event

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=FOREIGN_PRE_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            default_part,
            _redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name, chatty in (("arq.worker", _arq_is_chatty), ("uvicorn.error", _uvicorn_is_chatty)):
        library = logging.getLogger(name)
        library.filters[:] = [f for f in library.filters if not isinstance(f, _Demote)]
        library.addFilter(_Demote(chatty))
    # Uvicorn's access log prints request paths, which hold feed tokens: ours redacts them.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("uvicorn.access").propagate = False
    # HTTP client libraries log full URLs at info; a URL may hold a feed token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
