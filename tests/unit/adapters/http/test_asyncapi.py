"""The AsyncAPI 3.0 document built from the registry and the subscriptions, checked against the
official AsyncAPI 3.0.0 JSON Schema (vendored, loaded offline)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from adapters.http.asyncapi import SCHEMA_FORMAT, document, message_key
from lienthong.config import Settings
from lienthong.loading import load
from schemas.registry import SchemaRegistry
from tests.support import asyncapi
from tests.support.paths import EXAMPLES

EXAMPLE = EXAMPLES / "lienthong.yaml"


@pytest.fixture(scope="module")
def example() -> tuple[Settings, SchemaRegistry]:
    return load(EXAMPLE)


@pytest.fixture(scope="module")
def full(example: tuple[Settings, SchemaRegistry]) -> dict[str, Any]:
    settings, registry = example
    return document(
        registry, settings.subscriptions, bus_url="http://bus.example:8080", policy=settings.policy
    )


def test_the_document_is_valid_asyncapi_3(full: dict[str, Any]) -> None:
    assert asyncapi.errors(full) == []


def test_the_validator_does_find_errors(full: dict[str, Any]) -> None:
    broken = copy.deepcopy(full)
    broken["operations"]["publishEvents"]["action"] = "publish"  # AsyncAPI 2 wording
    del broken["info"]["version"]
    found = asyncapi.errors(broken)
    assert any("/operations/publishEvents" in e for e in found)
    assert any("'version' is a required property" in e for e in found)


def test_every_version_of_every_type_is_a_message_with_its_schema(
    example: tuple[Settings, SchemaRegistry], full: dict[str, Any]
) -> None:
    _, registry = example
    messages = full["components"]["messages"]
    expected = {message_key(t.name, v) for t in registry.types() for v in t.versions}
    assert set(messages) == expected
    assert "dossier.status.changed.v1" in messages and "dossier.status.changed.v2" in messages
    payload = messages["dossier.status.changed.v2"]["payload"]
    assert payload["schemaFormat"] == SCHEMA_FORMAT
    assert payload["schema"] == registry.schema("dossier.status.changed", 2)
    headers = messages["dossier.status.changed.v2"]["headers"]["properties"]
    assert headers["ce-type"] == {"const": "dossier.status.changed"}
    assert headers["ce-dataschema"] == {"const": "urn:lienthong:schema:dossier.status.changed:2"}
    assert "ce-traceparent" in headers
    assert set(full["channels"]["publish"]["messages"]) == expected


def test_each_subscription_is_a_channel_and_a_send_operation_on_its_sink(
    example: tuple[Settings, SchemaRegistry], full: dict[str, Any]
) -> None:
    settings, _ = example
    assert full["operations"]["publishEvents"]["action"] == "receive"
    assert full["servers"]["bus"]["host"] == "bus.example:8080"
    for subscription in settings.subscriptions:
        channel = full["channels"][f"deliver.{subscription.name}"]
        operation = full["operations"][f"deliver.{subscription.name}"]
        assert operation["action"] == "send"
        assert operation["channel"] == {"$ref": f"#/channels/deliver.{subscription.name}"}
        kinds = {key.rsplit(".v", 1)[0] for key in channel["messages"]}
        if subscription.types:
            assert kinds == set(subscription.types)
        else:
            assert kinds  # every type the policy lets the subscriber see
            assert all(settings.policy.may_subscribe(subscription.system, kind) for kind in kinds)
        if subscription.sink.kind == "webhook":
            server = full["servers"][f"sink-{subscription.name}"]
            url = subscription.sink.options["url"]
            assert url == f"{server['protocol']}://{server['host']}{server['pathname']}"


def test_a_reader_sees_only_the_subscriptions_given(example: tuple[Settings, SchemaRegistry]) -> None:
    settings, registry = example
    one = settings.subscriptions[:1]
    doc = document(registry, one, bus_url="https://bus.example", policy=settings.policy)
    assert [c for c in doc["channels"] if c.startswith("deliver.")] == [f"deliver.{one[0].name}"]
    assert asyncapi.errors(doc) == []
    none = document(registry, (), bus_url="https://bus.example")
    assert list(none["channels"]) == ["publish"]
    assert asyncapi.errors(none) == []
