"""The AsyncAPI 3.0 document of a bus: what may be published to it, and what it delivers to whom.

Built from the schema registry (every event type, every version, its JSON Schema as the message
payload) and the subscriptions (one channel and one ``send`` operation per subscription, on the
subscriber's server). Seen from the bus: it *receives* events on ``POST /v1/events`` and *sends*
each subscription's events to its sink.

Messages are described in CloudEvents HTTP binary mode, the bus's default: the payload is the
event's data, the headers are the ``ce-`` attributes (structured and batch mode carry the same
attributes in the JSON envelope instead; see docs/api.md). Payload schemas are the contracts as
``GET /v1/types/{type}/versions/{v}/schema`` serves them (JSON Schema 2020-12, bundled), marked
with that schema format: AsyncAPI 3.0 lets a multi-format schema name any format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from adapters.version import package_version
from router import envelope, tracing
from router.subscriptions import Subscription

ASYNCAPI_VERSION = "3.0.0"
SCHEMA_FORMAT = "application/schema+json;version=2020-12"
PUBLISH_CHANNEL = "publish"
BUS_SERVER = "bus"
SECURITY_SCHEME = "apiKey"
# Component, channel, server and operation keys must match ^[A-Za-z0-9.\-_]+$ (servers: no dot).
_KEY = re.compile(r"[^A-Za-z0-9_\-]")


class EventType(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def versions(self) -> tuple[int, ...]: ...

    @property
    def description(self) -> str: ...


class Catalogue(Protocol):
    """What the document needs of ``schemas.registry.SchemaRegistry``."""

    def types(self) -> Sequence[EventType]: ...

    def schema(self, type: str, version: int) -> dict[str, Any]: ...


class SubscribePolicy(Protocol):
    def may_subscribe(self, system_id: str, event_type: str) -> bool: ...


def message_key(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _key(name: str) -> str:
    return _KEY.sub("_", name)


def _message(catalogue: Catalogue, info: EventType, version: int) -> dict[str, Any]:
    schema = catalogue.schema(info.name, version)
    attribute = {"type": "string"}
    headers = {
        "type": "object",
        "description": "The CloudEvents context attributes (HTTP binary mode), and W3C trace context.",
        "required": ["ce-specversion", "ce-id", "ce-source", "ce-type"],
        "properties": {
            "ce-specversion": {"const": envelope.SPECVERSION},
            "ce-id": {**attribute, "description": "The event id; also the Idempotency-Key of a delivery."},
            "ce-source": {**attribute, "description": "The publishing system, '<agency code>/<system>'."},
            "ce-type": {"const": info.name},
            "ce-subject": {
                **attribute,
                "description": "The ordering key: events of a subject keep their order.",
            },
            "ce-time": {**attribute, "format": "date-time"},
            "ce-dataschema": {"const": str(schema.get("$id", ""))},
            f"ce-{tracing.ATTRIBUTE}": {
                **attribute,
                "description": "W3C trace context of the event (the bus starts one when the publisher gave none).",
            },
            "Idempotency-Key": {**attribute, "description": "On deliveries: the event id."},
        },
    }
    return {
        "name": info.name,
        "title": f"{info.name} v{version}",
        "summary": info.description,
        "contentType": envelope.JSON,
        "headers": headers,
        "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": schema},
    }


def _types_of(subscription: Subscription, names: Iterable[str], policy: SubscribePolicy | None) -> list[str]:
    if subscription.types:
        return list(subscription.types)
    # no types listed: every type the policy lets the subscriber see
    return [n for n in names if policy is None or policy.may_subscribe(subscription.system, n)]


def _sink_server(subscription: Subscription) -> dict[str, Any] | None:
    """The subscriber's server, for a webhook sink (connectors' servers are their own business)."""
    url = subscription.sink.options.get("url") if subscription.sink.kind == "webhook" else None
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    return {
        "host": parts.netloc,
        "protocol": parts.scheme,
        "pathname": parts.path or "/",
        "title": f"the sink of {subscription.name}",
        "description": f"The webhook of {subscription.system}.",
    }


def document(
    catalogue: Catalogue,
    subscriptions: Sequence[Subscription],
    *,
    bus_url: str,
    policy: SubscribePolicy | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the types in ``catalogue`` and of ``subscriptions`` (those the
    reader may see), with the bus at ``bus_url`` (e.g. ``http://127.0.0.1:8080``)."""
    types = list(catalogue.types())
    messages: dict[str, Any] = {}
    versions_of: dict[str, list[str]] = {}
    for info in types:
        for version_number in info.versions:
            key = message_key(info.name, version_number)
            messages[key] = _message(catalogue, info, version_number)
            versions_of.setdefault(info.name, []).append(key)

    def refs(keys: Iterable[str]) -> dict[str, Any]:
        return {key: {"$ref": f"#/components/messages/{key}"} for key in keys}

    bus = urlsplit(bus_url)
    servers: dict[str, Any] = {
        BUS_SERVER: {
            "host": bus.netloc,
            "protocol": bus.scheme or "http",
            "title": "lienthong",
            "description": "The bus's HTTP API.",
            "security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}],
        }
    }
    channels: dict[str, Any] = {
        PUBLISH_CHANNEL: {
            "address": "/v1/events",
            "title": "Publish",
            "description": (
                "POST one event (binary or structured mode) or a batch; answered 202 once durable. "
                "Every version of every registered type; the policy says who may publish which."
            ),
            "servers": [{"$ref": f"#/servers/{BUS_SERVER}"}],
            "messages": refs(messages),
        }
    }
    operations: dict[str, Any] = {
        "publishEvents": {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{PUBLISH_CHANNEL}"},
            "title": "The bus accepts events from the systems allowed to publish them",
            "security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}],
        }
    }
    names = [info.name for info in types]
    for subscription in subscriptions:
        channel_key = f"deliver.{_key(subscription.name)}"
        server = _sink_server(subscription)
        keys = [k for name in _types_of(subscription, names, policy) for k in versions_of.get(name, [])]
        channel: dict[str, Any] = {
            "address": server["pathname"] if server is not None else None,
            "title": f"Deliveries of {subscription.name}",
            "description": (
                f"Events for {subscription.system}, in order per subject, with retries and dead letters "
                f"(sink: {subscription.sink.kind}, batch size {subscription.batch_size})."
            ),
            "messages": refs(keys),
        }
        if server is not None:
            server_key = f"sink-{_key(subscription.name)}"
            servers[server_key] = server
            channel["servers"] = [{"$ref": f"#/servers/{server_key}"}]
        channels[channel_key] = channel
        operations[f"deliver.{_key(subscription.name)}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_key}"},
            "title": f"The bus delivers to {subscription.system}",
            "messages": [{"$ref": f"#/channels/{channel_key}/messages/{key}"} for key in keys],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "lienthong",
            "version": package_version(),
            "description": (
                "Data-sharing bus for e-government: schema-checked CloudEvents in, routed and "
                "delivered to the subscribers."
            ),
        },
        "defaultContentType": envelope.JSON,
        "servers": servers,
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A system's API key: Authorization: Bearer <key>.",
                }
            },
        },
    }
