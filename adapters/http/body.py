"""Reading a publish request: a bounded body, then the CloudEvents mode its headers announce."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request

from router import envelope
from router.envelope import CloudEvent
from router.errors import MalformedEvent, MalformedJson, PayloadTooLarge, UnsupportedMediaType


async def read_bounded(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    if not body:
        raise MalformedJson("the body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        # orjson reports invalid UTF-8, nesting deeper than 1024 and syntax errors alike.
        raise MalformedJson(f"the body is not valid JSON: {error}") from None


def _media_type(content_type: str) -> tuple[str, dict[str, str]]:
    essence, _, rest = content_type.partition(";")
    params: dict[str, str] = {}
    for item in rest.split(";"):
        name, _, value = item.partition("=")
        if name.strip():
            params[name.strip().lower()] = value.strip().strip('"').lower()
    return essence.strip().lower(), params


def parse_events(
    content_type: str | None, headers: Mapping[str, str], body: bytes, max_batch: int
) -> tuple[list[CloudEvent], bool]:
    """The events of a request and whether it was a batch."""
    if not content_type:
        raise UnsupportedMediaType(
            "send Content-Type application/cloudevents+json, application/cloudevents-batch+json, "
            "or application/json with ce- headers (binary mode)"
        )
    essence, params = _media_type(content_type)
    charset = params.get("charset")
    if charset not in (None, "utf-8", "utf8"):
        raise UnsupportedMediaType(f"the bus reads UTF-8 only, not {charset}")
    if essence == envelope.STRUCTURED:
        return [envelope.from_structured(_json(body))], False
    if essence == envelope.BATCH:
        items = _json(body)
        if isinstance(items, list) and len(items) > max_batch:
            raise PayloadTooLarge(f"the batch holds {len(items)} events; the limit is {max_batch}")
        if isinstance(items, list) and not items:
            raise MalformedEvent("the batch is empty")
        return envelope.from_batch(items), True
    if "ce-specversion" in headers:
        if not envelope.is_json_media_type(essence):
            raise UnsupportedMediaType("in binary mode the bus carries JSON data only (application/json)")
        data = _json(body) if body else None
        try:
            return [envelope.from_http_binary(headers.items(), content_type, data)], False
        except UnicodeDecodeError:
            raise MalformedEvent("a ce- header is not valid percent-encoded UTF-8") from None
    if envelope.is_json_media_type(essence):
        raise MalformedEvent(
            "a JSON body needs the CloudEvents attributes: use ce- headers (binary mode) "
            "or Content-Type application/cloudevents+json (structured mode)"
        )
    raise UnsupportedMediaType(f"'{essence}' is not a CloudEvents content type")
