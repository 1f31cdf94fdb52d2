"""The router's checks of inbound messages that may come from any Kafka client: hostile and
malformed messages become errors with stable codes, never crashes; valid ones are completed."""

from __future__ import annotations

import orjson
import pytest

from router.directory import Directory, System
from router.envelope import attributes_of, from_structured, structured_bytes, to_message
from router.errors import LienthongError
from router.policy import Policy, Rule
from router.ports import Headers, Message, StoredMessage
from router.publishing import EventChecks
from router.routing import InboundChecks
from schemas.registry import SchemaRegistry
from tests.support.bus import ONESTOP, PORTAL
from tests.support.events import status_changed


@pytest.fixture(scope="module")
def checks() -> InboundChecks:
    systems = [System(id=s, member=s.split("/")[0], name=s.split("/")[1]) for s in (ONESTOP, PORTAL)]
    policy = Policy([Rule(systems=(ONESTOP,), publish=("dossier.*",))])
    return InboundChecks(Directory(systems), EventChecks(SchemaRegistry.load(), policy))


def stored(headers: Headers, value: bytes, key: str = "k") -> StoredMessage:
    return StoredMessage("inbound", 0, 7, key, value, headers, 0)


def of(event: dict[str, object]) -> StoredMessage:
    message = to_message(from_structured(event))
    return stored(message.headers, message.value, message.key)


def check(checks: InboundChecks, message: StoredMessage) -> LienthongError | Message:
    return checks.check(message, attributes_of(message.headers))


def code_of(verdict: LienthongError | Message) -> tuple[str, str]:
    assert isinstance(verdict, LienthongError)
    return verdict.code, verdict.errors[0].pointer if verdict.errors else ""


def test_a_valid_message_is_routed_as_it_is_once_complete(checks: InboundChecks) -> None:
    event = status_changed(1, 0)
    verdict = check(checks, of(event))
    assert isinstance(verdict, Message)
    headers = dict(verdict.headers)
    assert headers["ce_id"] == event["id"].encode()
    assert headers["ce_dataschema"].startswith(b"urn:lienthong:schema:dossier.status.changed:")
    assert verdict.key == event["subject"]


def test_a_missing_subject_is_taken_from_the_data_and_becomes_the_key(checks: InboundChecks) -> None:
    event = status_changed(2, 0)
    del event["subject"]
    message = to_message(from_structured(event))
    verdict = check(checks, stored(message.headers, message.value, key=""))
    assert isinstance(verdict, Message)
    assert verdict.key == event["data"]["dossierCode"]


@pytest.mark.parametrize(
    ("headers", "value", "expected"),
    [
        ((), b"{}", ("malformed_event", "/specversion")),
        ((("ce_specversion", b"1.0"),), b"\xff\xfe", ("malformed_event", "/data")),
        (
            (("ce_specversion", b"1.0"), ("ce_source", b"\xff"), ("ce_type", b"x")),
            b"",
            ("forbidden", "/source"),
        ),
        (
            (("ce_specversion", b"0.3"), ("ce_source", b"a"), ("ce_type", b"x")),
            b"",
            ("malformed_event", "/specversion"),
        ),
        (
            (
                ("ce_specversion", b"1.0"),
                ("ce_source", ONESTOP.encode()),
                ("ce_type", b"t"),
                ("ce_BAD-name", b"1"),
            ),
            b"",
            ("malformed_event", "/BAD-name"),
        ),
        (
            (("ce_specversion", b"1.0"), ("ce_source", ONESTOP.encode()), ("ce_type", b"dossier.nope")),
            b"{}",
            ("unknown_type", "/type"),
        ),
        (
            (
                ("ce_specversion", b"1.0"),
                ("ce_source", PORTAL.encode()),
                ("ce_type", b"dossier.status.changed"),
            ),
            b"{}",
            ("forbidden", "/type"),
        ),
        (
            (
                ("ce_specversion", b"1.0"),
                ("ce_source", ONESTOP.encode()),
                ("ce_type", b"dossier.status.changed"),
                ("content-type", b"text/plain"),
            ),
            b'"x"',
            ("malformed_event", "/datacontenttype"),
        ),
    ],
)
def test_hostile_messages_are_errors_with_stable_codes(
    checks: InboundChecks, headers: Headers, value: bytes, expected: tuple[str, str]
) -> None:
    assert code_of(check(checks, stored(headers, value))) == expected


def test_data_against_the_schema_and_the_subject_against_the_data(checks: InboundChecks) -> None:
    bad = status_changed(1, 0)
    bad["data"]["status"] = [1] * 10_000
    assert code_of(check(checks, of(bad))) == ("schema_violation", "/data/status")
    other = status_changed(1, 0)
    other["subject"] = "someone else's dossier"
    assert code_of(check(checks, of(other))) == ("schema_violation", "/subject")
    array = of(status_changed(1, 0))
    assert code_of(check(checks, stored(array.headers, orjson.dumps([1, 2])))) == (
        "schema_violation",
        "/data",
    )


def test_a_message_rebuilt_with_its_subject_from_the_data_keeps_its_extension_types(
    checks: InboundChecks,
) -> None:
    event = {**status_changed(3, 0), "count": 3, "flag": True}
    del event["subject"]
    message = to_message(from_structured(event))
    verdict = check(checks, stored(message.headers, message.value, key=""))
    assert isinstance(verdict, Message)
    assert verdict.key == event["data"]["dossierCode"]
    routed = StoredMessage("deliver.portal", 0, 0, verdict.key, verdict.value, verdict.headers, 0)
    out = orjson.loads(structured_bytes(routed))
    assert (out["count"], out["flag"]) == (3, True)
