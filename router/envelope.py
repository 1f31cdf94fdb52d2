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
    extensions: dict[str, AttributeValue] = {}
    for name, value in attributes.items():
        if name in CORE:
            # the common case in one test: a string, neither empty nor too long (or absent)
            if (type(value) is str and 0 < len(value) <= MAX_ATTRIBUTE_LENGTH) or value is None:
                continue
            _check_core(name, value, pointer)
        elif name not in {"data", "data_base64"}:
            extensions[name] = _extension(name, value, pointer)
    # every core attribute present is checked: a string, or None (as if absent)
    get = attributes.get
    specversion = get("specversion")
    if specversion is None:
        raise _error(f"{pointer}/specversion", "the required attribute 'specversion' is missing")
    if specversion != SPECVERSION:
        raise _error(f"{pointer}/specversion", f"specversion must be '1.0', not {specversion!r}")
    source = get("source")
    if source is None:
        raise _error(f"{pointer}/source", "the required attribute 'source' is missing")
    event_type = get("type")
    if event_type is None:
        raise _error(f"{pointer}/type", "the required attribute 'type' is missing")
    time = get("time")
    if time is not None:
        _check_time(time, f"{pointer}/time")
    if len(extensions) > MAX_EXTENSIONS:
        raise _error(pointer or "/", f"an event may carry at most {MAX_EXTENSIONS} extension attributes")
    datacontenttype = get("datacontenttype")
    # the common "application/json" needs no parsing
    if datacontenttype is not None and datacontenttype != JSON and not is_json_media_type(datacontenttype):
        raise _error(
            f"{pointer}/datacontenttype", "the bus carries JSON data only (application/json or */*+json)"
        )
    event_id = get("id")
    return CloudEvent(
        event_id or str(uuid.uuid4()),
        source,
        event_type,
        get("subject"),
        time,
        datacontenttype,
        get("dataschema"),
        data,
        extensions,
        event_id is None,
    )


def _check_core(name: str, value: Any, pointer: str) -> None:
    """Raises the error of a core attribute's value that is not a short non-empty string (an
    empty ``subject`` passes: it is the key of the events that name none)."""
    if type(value) is not str:
        raise _error(f"{pointer}/{name}", f"the attribute '{name}' must be a string")
    if not value and name != "subject":
        raise _error(f"{pointer}/{name}", f"the attribute '{name}' must not be empty")
    if len(value) > MAX_ATTRIBUTE_LENGTH:
        raise _error(f"{pointer}/{name}", f"the attribute '{name}' is longer than {MAX_ATTRIBUTE_LENGTH}")


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


# The attribute of each header that carries a core attribute or a common extension, found with one
# look-up; any other ``ce_`` header carries the extension its name ends with.
_ATTRIBUTE_OF_HEADER = {KAFKA_PREFIX + name: name for name in (*CORE, "traceparent", "recipient")}
_ATTRIBUTE_OF_HEADER["content-type"] = "datacontenttype"


def _decode_into(headers: Headers, attributes: dict[str, Any]) -> bytes:
    """Puts the CloudEvents attributes of Kafka binary-mode headers in ``attributes`` as text;
    returns the :data:`TYPES_HEADER` value (empty when there is none).

    This runs for every event in the router and in every delivery: one dictionary look-up per
    header in the common case."""
    types = b""
    names = _ATTRIBUTE_OF_HEADER
    for name, raw in headers:
        attribute = names.get(name)
        if attribute is None:
            if name[:3] != KAFKA_PREFIX:
                if name == TYPES_HEADER:
                    types = raw
                continue
            attribute = name[3:]
        attributes[attribute] = raw.decode("utf-8", "replace")
    return types


def attributes_of(headers: Headers) -> dict[str, str]:
    """The CloudEvents attributes carried by Kafka binary-mode headers."""
    attributes: dict[str, str] = {}
    _decode_into(headers, attributes)
    return attributes


def typed_attributes_of(headers: Headers) -> dict[str, AttributeValue]:
    """The attributes carried by Kafka binary-mode headers, the extensions named in
    :data:`TYPES_HEADER` as the booleans and integers they were published as.

    A type that does not fit its header's text (a producer on Kafka may write any header) leaves
    the text as it is."""
    attributes: dict[str, AttributeValue] = {}
    types = _decode_into(headers, attributes)
    if types:
        _apply_types(attributes, types)
    return attributes


def both_attributes_of(headers: Headers) -> tuple[dict[str, str], Mapping[str, AttributeValue]]:
    """:func:`attributes_of` and :func:`typed_attributes_of` of the same headers, decoded once
    (the router's checks of every Kafka inbound message need both). The two are one dict when no
    extension is typed: a caller changes the first only once it is done with the second."""
    attributes: dict[str, str] = {}
    types = _decode_into(headers, attributes)
    if not types:
        return attributes, attributes
    typed: dict[str, AttributeValue] = dict(attributes)
    _apply_types(typed, types)
    return attributes, typed


def _apply_types(attributes: dict[str, AttributeValue], types: bytes) -> None:
    """Turns the extensions that ``types`` (the :data:`TYPES_HEADER` value) names back into the
    booleans and integers they were published as, where their text fits."""
    for entry in types.decode("ascii", "replace").split(","):
        name, _, kind = entry.partition("=")
        text = attributes.get(name)
        if name in CORE or not isinstance(text, str):
            continue
        if kind == _BOOLEAN and text in ("true", "false"):
            attributes[name] = text == "true"
        elif kind == _INTEGER and _INTEGER_TEXT.fullmatch(text) and abs(int(text)) < _INTEGER_LIMIT:
            attributes[name] = int(text)


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
