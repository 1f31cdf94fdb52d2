"""The log formats of ``lienthong serve``."""

from __future__ import annotations

import io
import json
import logging
import sys
from typing import Any

import pytest

from lienthong import logs
from router import tracing
from tests.support.messages import stored

GIVEN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def record(message: str, *, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("lienthong.delivery", logging.WARNING, __file__, 1, message, (), exc_info)
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def test_a_json_line_has_the_fixed_fields_and_the_events() -> None:
    fields: dict[str, Any] = {
        **tracing.log_fields(stored("e1", "H49-1", extensions={"traceparent": GIVEN})),
        "subscription": "portal",
    }
    line = logs.JsonFormatter().format(record("event dead-lettered\nsecond line", **fields))
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["level"] == "warning"
    assert parsed["logger"] == "lienthong.delivery"
    assert parsed["message"] == "event dead-lettered\nsecond line"
    assert parsed["time"].endswith("+00:00")
    assert parsed["event_id"] == "e1"
    assert parsed["subject"] == "H49-1"
    assert parsed["type"] == "dossier.status.changed"
    assert parsed["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parsed["subscription"] == "portal"


def test_a_json_line_without_an_event_has_no_event_fields_and_carries_the_traceback() -> None:
    parsed = json.loads(logs.JsonFormatter().format(record("failed", exc=True)))
    assert set(parsed) == {"time", "level", "logger", "message", "error"}
    assert "ValueError: boom" in parsed["error"]


def test_a_text_line_appends_the_event_fields() -> None:
    line = logs.TextFormatter().format(record("dead-lettered", event_id="e1", trace_id="abc"))
    assert line.endswith("lienthong.delivery: dead-lettered [event_id=e1 trace_id=abc]")


def test_the_default_is_text_at_a_terminal_and_json_elsewhere() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert logs.default_format(Terminal()) == "text"
    assert logs.default_format(io.StringIO()) == "json"


def test_configure_sends_every_logger_to_the_stream() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    try:
        logs.configure("json", stream=out)
        logging.getLogger("uvicorn.error").info("Started server process")
        logging.getLogger("httpx").info("a request: not logged at INFO")
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [(line["logger"], line["message"]) for line in lines] == [
            ("uvicorn.error", "Started server process")
        ]
        with pytest.raises(ValueError):
            logs.formatter("yaml")  # type: ignore[arg-type]
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
