"""Extension types through Kafka binary mode: what an event published in structured mode says is
a boolean or an integer is one again when the bus writes the event in structured mode."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.envelope import (
    TYPES_HEADER,
    attributes_of,
    batch_bytes,
    from_http_binary,
    from_message,
    from_structured,
    structured_bytes,
    to_message,
    typed_attributes_of,
)
from router.ports import Headers, StoredMessage

EXTENSIONS: dict[str, Any] = {"count": 3, "flag": True, "off": False, "name": "x", "minus": -2147483647}


def event(**extensions: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "000.00.00.H49/motcua",
        "type": "dossier.status.changed",
        "subject": "dossier-1",
        "data": {"n": 1},
        **extensions,
    }


def stored(headers: Headers, value: bytes = b'{"n":1}') -> StoredMessage:
    return StoredMessage("deliver.test", 0, 0, "dossier-1", value, headers, 0)


def message_of(document: dict[str, Any]) -> StoredMessage:
    message = to_message(from_structured(document))
    return stored(message.headers, message.value)


def test_structured_in_structured_out_keeps_booleans_and_integers() -> None:
    message = message_of(event(**EXTENSIONS))
    out = orjson.loads(structured_bytes(message))
    assert {name: out[name] for name in EXTENSIONS} == EXTENSIONS
    assert type(out["count"]) is int and type(out["flag"]) is bool and type(out["off"]) is bool
    [batched] = orjson.loads(batch_bytes([message]))
    assert batched == out
    assert from_message(message).extensions == EXTENSIONS


def test_the_binary_mode_headers_stay_text_and_the_types_go_in_a_header_no_sink_sees() -> None:
    message = message_of(event(**EXTENSIONS))
    headers = dict(message.headers)
    assert (headers["ce_count"], headers["ce_flag"], headers["ce_off"]) == (b"3", b"true", b"false")
    assert headers[TYPES_HEADER] == b"count=integer,flag=boolean,off=boolean,minus=integer"
    assert not TYPES_HEADER.startswith("ce_")
    assert attributes_of(message.headers)["count"] == "3"  # what filters and binary mode read


def test_an_event_with_text_extensions_only_has_no_types_header() -> None:
    message = message_of(event(name="x", digits="3"))
    assert TYPES_HEADER not in dict(message.headers)
    assert orjson.loads(structured_bytes(message))["digits"] == "3"


def test_extensions_published_in_binary_mode_stay_text() -> None:
    # HTTP binary mode cannot tell "3" meant as a number from "3" meant as text
    published = from_http_binary(
        [("ce-specversion", "1.0"), ("ce-id", "e"), ("ce-source", "s"), ("ce-type", "t"), ("ce-count", "3")],
        "application/json",
        {"n": 1},
    )
    message = to_message(published)
    out = orjson.loads(structured_bytes(stored(message.headers, message.value)))
    assert out["count"] == "3"


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        (b"count=integer", 3),
        (b"count=boolean", "3"),  # the text is no boolean
        (b"count=float", "3"),  # not a type the bus writes
        (b"count", "3"),
        (b"=integer,,count=integer", 3),
        (b"\xff\xfe", "3"),
    ],
)
def test_a_types_header_that_does_not_fit_leaves_the_text(types: bytes, expected: object) -> None:
    headers = (("ce_specversion", b"1.0"), ("ce_id", b"e"), ("ce_count", b"3"), (TYPES_HEADER, types))
    assert typed_attributes_of(headers)["count"] == expected


@pytest.mark.parametrize("text", [b"2147483648", b"-2147483648", b"1e3", b" 3", b"03x", b"99999999999"])
def test_an_integer_type_applies_to_32_bit_integer_text_only(text: bytes) -> None:
    headers = (("ce_big", text), (TYPES_HEADER, b"big=integer"))
    assert typed_attributes_of(headers)["big"] == text.decode()


def test_core_attributes_are_never_retyped() -> None:
    headers = (("ce_id", b"7"), ("ce_specversion", b"1.0"), (TYPES_HEADER, b"id=integer,specversion=integer"))
    assert typed_attributes_of(headers) == {"id": "7", "specversion": "1.0"}
