"""CloudEvents 1.0: parsing the HTTP structured, batch and binary modes, and the Kafka binary
mode used inside the bus.

Inside the bus an event is a :class:`router.ports.Message` in Kafka binary mode: the attributes are
``ce_<name>`` headers, ``content-type`` carries ``datacontenttype``, the value is the data (JSON
bytes) and the key is the ordering key (the ``subject``, or the ``id`` when there is none). Any
CloudEvents SDK can therefore produce to or consume from a Kafka topic of the bus directly.

A binary-mode header is text, but CloudEvents types an extension (Boolean, Integer, String,
Binary, URI, URI-reference, Timestamp) and its JSON format writes a Boolean as a JSON boolean and
an Integer as a JSON number, everything else as a string. So the Boolean and Integer extensions
of an event are also named in :data:`TYPES_HEADER` (``count=integer,flag=boolean``), a header of
the bus's own that no sink sees (no ``ce_`` prefix), and :func:`structured_bytes` writes them back
as JSON booleans and numbers. Binary-mode deliveries send every attribute as header text, as the
HTTP binding requires. An event published in binary mode has text extensions only: the mode
cannot say which were meant as numbers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import orjson

from router.errors import FieldError, MalformedEvent
from router.ports import Headers, Message, StoredMessage

SPECVERSION = "1.0"
JSON = "application/json"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"

REQUIRED = ("id", "source", "specversion", "type")
OPTIONAL = ("datacontenttype", "dataschema", "subject", "time")
CORE = frozenset(REQUIRED + OPTIONAL)
# CloudEvents 1.0: attribute names are lower-case ASCII letters and digits; 20 characters is the
# spec's "SHOULD NOT exceed", which the bus enforces so headers stay bounded.
_ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")
MAX_ATTRIBUTE_LENGTH = 2048
MAX_EXTENSIONS = 32
KAFKA_PREFIX = "ce_"
HTTP_PREFIX = "ce-"

AttributeValue = str | int | bool

TYPES_HEADER = "lienthong_types"
_BOOLEAN = "boolean"
_INTEGER = "integer"
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,10}")
# CloudEvents Integer: a 32-bit signed integer
_INTEGER_LIMIT = 2**31


@dataclass(slots=True)
class CloudEvent:
    """One event. ``data`` is the parsed JSON data (``None`` when the event has none)."""

    id: str
    source: str
    type: str
    subject: str | None = None
    time: str | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    data: Any = None
    extensions: dict[str, AttributeValue] = field(default_factory=dict)
    id_generated: bool = False
    # the bus started this event's trace (its publisher gave no trace context); not sent anywhere
    trace_started: bool = False

    @property
    def key(self) -> str:
        """The ordering key: events with the same subject are delivered in order."""
        return self.subject if self.subject is not None else self.id

    def attributes(self) -> dict[str, AttributeValue]:
        """The context attributes (everything but data), with ``specversion``."""
        out: dict[str, AttributeValue] = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
        }
        for name in ("subject", "time", "datacontenttype", "dataschema"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(self.extensions)
        return out


def _error(pointer: str, message: str) -> MalformedEvent:
    return MalformedEvent(message, (FieldError(pointer, message),))


def _check_time(value: str, pointer: str) -> None:
    # RFC 3339 requires a time zone; fromisoformat accepts "Z" since Python 3.11.
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _error(pointer, f"'{value}' is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise _error(pointer, f"'{value}' is not an RFC 3339 timestamp with a time zone")


def _extension(name: str, value: Any, pointer: str) -> AttributeValue:
    if not _ATTRIBUTE_NAME.match(name):
        raise _error(
            f"{pointer}/{name}",
            f"'{name}' is not a valid attribute name (lower-case letters and digits, at most 20)",
        )
    if isinstance(value, bool) or (isinstance(value, int) and abs(value) < _INTEGER_LIMIT):
        return value
    if isinstance(value, str) and len(value) <= MAX_ATTRIBUTE_LENGTH:
        return value
    raise _error(f"{pointer}/{name}", f"the extension '{name}' must be a short string, integer or boolean")


def from_attributes(attributes: Mapping[str, Any], data: Any, pointer: str = "") -> CloudEvent:
    """Builds an event from its attributes and data, checking them against CloudEvents 1.0.

    A missing ``id`` is generated (a UUID); every other required attribute must be present.
    One pass over the attributes: this runs for every published event.
    """
    values: dict[str, str] = {}
    extensions: dict[str, AttributeValue] = {}
    for name, value in attributes.items():
        if name in CORE:
            if value is None:
                continue
            if type(value) is not str:
                raise _error(f"{pointer}/{name}", f"the attribute '{name}' must be a string")
            if not value and name != "subject":
                raise _error(f"{pointer}/{name}", f"the attribute '{name}' must not be empty")
            if len(value) > MAX_ATTRIBUTE_LENGTH:
                raise _error(
                    f"{pointer}/{name}", f"the attribute '{name}' is longer than {MAX_ATTRIBUTE_LENGTH}"
                )
            values[name] = value
        elif name not in {"data", "data_base64"}:
            extensions[name] = _extension(name, value, pointer)
    specversion = values.get("specversion")
    if specversion is None:
        raise _error(f"{pointer}/specversion", "the required attribute 'specversion' is missing")
    if specversion != SPECVERSION:
        raise _error(f"{pointer}/specversion", f"specversion must be '1.0', not {specversion!r}")
    for name in ("source", "type"):
        if name not in values:
            raise _error(f"{pointer}/{name}", f"the required attribute '{name}' is missing")
    if "time" in values:
        _check_time(values["time"], f"{pointer}/time")
    if len(extensions) > MAX_EXTENSIONS:
        raise _error(pointer or "/", f"an event may carry at most {MAX_EXTENSIONS} extension attributes")
    datacontenttype = values.get("datacontenttype")
    # the common "application/json" needs no parsing
    if datacontenttype is not None and datacontenttype != JSON and not is_json_media_type(datacontenttype):
        raise _error(
            f"{pointer}/datacontenttype", "the bus carries JSON data only (application/json or */*+json)"
        )
    event_id = values.get("id")
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=values["source"],
        type=values["type"],
        subject=values.get("subject"),
        time=values.get("time"),
        datacontenttype=datacontenttype,
        dataschema=values.get("dataschema"),
        data=data,
        extensions=extensions,
        id_generated=event_id is None,
    )


def is_json_media_type(media_type: str) -> bool:
    essence = media_type.split(";", 1)[0].strip().lower()
    return essence == JSON or essence.endswith("+json")


def from_structured(obj: Any, pointer: str = "") -> CloudEvent:
    """An event in structured mode: a JSON object holding the attributes and ``data``."""
    if not isinstance(obj, dict):
        raise _error(pointer or "/", "a CloudEvent in structured mode must be a JSON object")
    if "data_base64" in obj:
        raise _error(f"{pointer}/data_base64", "the bus carries JSON data only; use 'data'")
    return from_attributes(obj, obj.get("data"), pointer)


def from_batch(obj: Any) -> list[CloudEvent]:
    """Events in batch mode: a JSON array of structured events."""
    if not isinstance(obj, list):
        raise _error("/", "a CloudEvents batch must be a JSON array")
    return [from_structured(item, f"/{index}") for index, item in enumerate(obj)]


def from_http_binary(headers: Iterable[tuple[str, str]], content_type: str | None, data: Any) -> CloudEvent:
    """An event in HTTP binary mode: attributes in ``ce-`` headers (percent-encoded), data in the body."""
    attributes: dict[str, Any] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered.startswith(HTTP_PREFIX):
            attributes[lowered[len(HTTP_PREFIX) :]] = unquote(value, errors="strict")
    if content_type is not None:
        attributes["datacontenttype"] = content_type
    return from_attributes(attributes, data, "")


def _header_text(value: AttributeValue) -> bytes:
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(value).encode()


def to_message(event: CloudEvent, data_bytes: bytes | None = None) -> Message:
    """The event in Kafka binary mode, keyed by subject; its dedup id is ``source`` + ``id``."""
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
    ]
    if event.subject is not None:
        headers.append(("ce_subject", event.subject.encode()))
    if event.time is not None:
        headers.append(("ce_time", event.time.encode()))
    if event.datacontenttype is not None:
        headers.append(("content-type", event.datacontenttype.encode()))
    if event.dataschema is not None:
        headers.append(("ce_dataschema", event.dataschema.encode()))
    typed: list[str] = []
    for name, value in event.extensions.items():
        headers.append((KAFKA_PREFIX + name, _header_text(value)))
        if isinstance(value, bool):
            typed.append(f"{name}={_BOOLEAN}")
        elif isinstance(value, int):
            typed.append(f"{name}={_INTEGER}")
    if typed:
        headers.append((TYPES_HEADER, ",".join(typed).encode()))
    if data_bytes is None:
        data_bytes = b"" if event.data is None else orjson.dumps(event.data)
    return Message(
        key=event.key,
        value=data_bytes,
        headers=tuple(headers),
        dedup_id=None if event.id_generated else dedup_id(event.source, event.id),
    )


def dedup_id(source: str, event_id: str) -> str:
    """What makes a publish idempotent: an event id is unique per source (CloudEvents)."""
    return f"{source}\n{event_id}"


def attributes_of(headers: Headers) -> dict[str, str]:
    """The CloudEvents attributes carried by Kafka binary-mode headers."""
    # This runs for every event in the router and in every delivery: a plain loop with one
    # test per header beats a comprehension that tests the name twice.
    attributes: dict[str, str] = {}
    for name, raw in headers:
        if name[:3] == KAFKA_PREFIX:
            attributes[name[3:]] = raw.decode("utf-8", "replace")
        elif name == "content-type":
            attributes["datacontenttype"] = raw.decode("utf-8", "replace")
    return attributes


def typed_attributes_of(headers: Headers) -> dict[str, AttributeValue]:
    """The attributes carried by Kafka binary-mode headers, the extensions named in
    :data:`TYPES_HEADER` as the booleans and integers they were published as.

    A type that does not fit its header's text (a producer on Kafka may write any header) leaves
    the text as it is."""
    attributes: dict[str, AttributeValue] = {}
    types = b""
    for name, raw in headers:
        if name[:3] == KAFKA_PREFIX:
            attributes[name[3:]] = raw.decode("utf-8", "replace")
        elif name == "content-type":
            attributes["datacontenttype"] = raw.decode("utf-8", "replace")
        elif name == TYPES_HEADER:
            types = raw
    if types:
        for entry in types.decode("ascii", "replace").split(","):
            name, _, kind = entry.partition("=")
            text = attributes.get(name)
            if name in CORE or not isinstance(text, str):
                continue
            if kind == _BOOLEAN and text in ("true", "false"):
                attributes[name] = text == "true"
            elif kind == _INTEGER and _INTEGER_TEXT.fullmatch(text) and abs(int(text)) < _INTEGER_LIMIT:
                attributes[name] = int(text)
    return attributes


def from_message(message: StoredMessage) -> CloudEvent:
    """Reads an event back from Kafka binary mode (raises MalformedEvent if it is not one)."""
    attributes: dict[str, Any] = typed_attributes_of(message.headers)
    try:
        data = orjson.loads(message.value) if message.value else None
    except orjson.JSONDecodeError:
        raise _error("/data", "the message value is not JSON") from None
    return from_attributes(attributes, data)


def structured_bytes(message: StoredMessage) -> bytes:
    """The event of a stored message as structured-mode JSON, splicing the stored data bytes
    in place rather than decoding and re-encoding them (the delivery hot path)."""
    attributes = typed_attributes_of(message.headers)
    attributes.setdefault("specversion", SPECVERSION)
    head = orjson.dumps(attributes)
    if not message.value:
        return head
    return head[:-1] + b',"data":' + message.value + b"}"


def batch_bytes(messages: Iterable[StoredMessage]) -> bytes:
    """Messages as one ``application/cloudevents-batch+json`` body."""
    return b"[" + b",".join(structured_bytes(m) for m in messages) + b"]"
