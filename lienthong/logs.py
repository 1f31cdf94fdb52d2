"""The log output of ``lienthong serve``: one JSON object per line, or plain text for a terminal.

A JSON line holds ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger`` and ``message``,
and, when the line is about an event, ``event_id``, ``subject``, ``type`` and ``trace_id`` (the
W3C trace id of the event's ``traceparent``), plus ``subscription`` where one is concerned, and
``error`` with the traceback of an exception. Code attaches the event's fields with
``extra=router.tracing.log_fields(message)``.

A small stdlib ``logging.Formatter`` does this: the library's own logger calls stay as they are,
and uvicorn's and httpx's lines come out in the same format without a second logging system.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

LogFormat = Literal["json", "text"]
FORMATS: tuple[LogFormat, ...] = ("json", "text")

# record attribute -> JSON key, in output order after the fixed fields
EVENT_FIELDS = (
    ("event_id", "event_id"),
    ("subject", "subject"),
    ("event_type", "type"),
    ("trace_id", "trace_id"),
    ("subscription", "subscription"),
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped by JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for attribute, key in EVENT_FIELDS:
            value = getattr(record, attribute, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["error"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """The classic line, with the event's fields appended as ``key=value`` when there are any."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [
            f"{key}={value}"
            for attribute, key in EVENT_FIELDS
            if (value := getattr(record, attribute, None)) is not None
        ]
        if not fields:
            return text
        head, newline, rest = text.partition("\n")
        return f"{head} [{' '.join(fields)}]{newline}{rest}"


def default_format(stream: TextIO) -> LogFormat:
    """Text for a person at a terminal, JSON for everything else (a log collector, a file)."""
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return TextFormatter()
    raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")


def configure(
    log_format: LogFormat | None = None, *, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Sends every logger's records (the bus's, uvicorn's, httpx's) to ``stream`` (stderr) in
    ``log_format`` (by default: text at a terminal, JSON otherwise)."""
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(log_format or default_format(out)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's loggers carry handlers and levels of their own (an earlier uvicorn.Config in the
    # same process may have set them); let them propagate to the root's at the root's level
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    # httpx logs every request at INFO: one line per webhook call is noise, and costs CPU
    logging.getLogger("httpx").setLevel(logging.WARNING)
