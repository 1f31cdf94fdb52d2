"""Bad input to the HTTP API: each a clear problem+json with a stable code, never a 500, and
nothing written (the subscriber receives nothing, the queues stay empty)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.bus import ONESTOP, OPERATOR, OUTSIDER, BusConfig, BusProcess, abandon_request
from tests.support.events import status_changed
from tests.support.receiver import Receiver
from tests.support.sentinels import delivered_through, lag_drains

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


@pytest.fixture(scope="module")
def bus_config(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> BusConfig:
    # One partition, and a subscription to every type the portal may receive (no ``types``): an
    # event published later is delivered after anything a bad request might have written, so
    # test_nothing_was_written_by_bad_requests can prove that nothing was. Evidence collected for
    # other systems is ruled out: its records are released to their recipient alone.
    config = BusConfig(
        tmp_path_factory.mktemp("bus"), http={"max_body": "64KiB", "max_batch": 10}, partitions=1
    )
    return config.subscribe(
        "portal", receiver.url, types=(), filters=[{"not": {"exact": {"type": "dossier.evidence.collected"}}}]
    )


def post(
    bus: BusProcess, body: bytes, content_type: str | None, key: str | None = None, **headers: str
) -> httpx.Response:
    sent = dict(headers)
    if content_type is not None:
        sent["Content-Type"] = content_type
    token = bus.config.keys[ONESTOP] if key is None else key
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{bus.url}/v1/events", content=body, headers=sent, timeout=30)


def problem_of(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = reply.json()
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["status"] == status
    assert body["detail"]
    return body


def event(**changes: Any) -> dict[str, Any]:
    out = status_changed(1, 1)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b'{"specversion": "1.0", ', STRUCTURED, 400, "malformed_json"),
        (b"", STRUCTURED, 400, "malformed_json"),
        (b'{"a": "\xff\xfe"}', STRUCTURED, 400, "malformed_json"),  # invalid UTF-8
        (b"[" * 5000 + b"]" * 5000, BATCH, 400, "malformed_json"),  # nested deeper than the parser allows
        (dumps(event()), "text/plain", 415, "unsupported_media_type"),
        (dumps(event()), None, 415, "unsupported_media_type"),
        (dumps(event()), STRUCTURED + "; charset=iso-8859-1", 415, "unsupported_media_type"),
        (dumps(event()["data"]), "application/json", 400, "malformed_event"),  # JSON without attributes
        (dumps([]), BATCH, 400, "malformed_event"),
        (dumps(event()), BATCH, 400, "malformed_event"),  # a batch must be an array
        (dumps([1, 2]), BATCH, 400, "malformed_event"),
        (dumps(event(specversion="0.3")), STRUCTURED, 400, "malformed_event"),
        (dumps(event(type=None)), STRUCTURED, 400, "malformed_event"),
        (dumps(event(source=None)), STRUCTURED, 400, "malformed_event"),
        (dumps(event(time="yesterday")), STRUCTURED, 400, "malformed_event"),
        (dumps(event(id=42)), STRUCTURED, 400, "malformed_event"),
        (dumps({**event(), "Bad-Name": "x"}), STRUCTURED, 400, "malformed_event"),
        (dumps({**event(), "data_base64": "AAAA"}), STRUCTURED, 400, "malformed_event"),
        (dumps(event(type="dossier.unknown")), STRUCTURED, 422, "unknown_type"),
        (dumps(event(type="payment.made")), STRUCTURED, 403, "forbidden"),  # no grant to publish it
        (
            dumps(event(dataschema="urn:lienthong:schema:dossier.status.changed:99")),
            STRUCTURED,
            400,
            "malformed_event",
        ),
        (b'{"x": "' + b"a" * 70_000 + b'"}', STRUCTURED, 413, "payload_too_large"),
        (dumps([event(id=f"e{i}") for i in range(11)]), BATCH, 413, "payload_too_large"),
    ],
)
def test_bad_request_gets_a_problem(
    bus: BusProcess, body: bytes, content_type: str | None, status: int, code: str
) -> None:
    problem_of(post(bus, body, content_type), status, code)


def test_schema_violations_point_at_every_bad_field(bus: BusProcess) -> None:
    bad = event()
    bad["data"]["status"] = 11
    bad["data"]["agencyCode"] = "UBND H49"
    del bad["data"]["changedAt"]
    body = problem_of(post(bus, dumps(bad), STRUCTURED), 422, "schema_violation")
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/data/status", "/data/agencyCode", "/data/changedAt"} <= pointers


def test_a_batch_with_one_bad_event_is_refused_whole(bus: BusProcess) -> None:
    good = status_changed(2, 1)
    bad = status_changed(2, 2)
    bad["data"]["status"] = "four"
    body = problem_of(post(bus, dumps([good, bad]), BATCH), 422, "schema_violation")
    assert {e["pointer"] for e in body["errors"]} == {"/1/data/status"}


def test_subject_must_agree_with_the_dossier_code(bus: BusProcess) -> None:
    body = problem_of(
        post(bus, dumps(event(subject="000.00.00.H49-240502-0999")), STRUCTURED), 422, "schema_violation"
    )
    assert body["errors"][0]["pointer"] == "/subject"


def test_binary_mode_errors(bus: BusProcess) -> None:
    data = dumps(event()["data"])
    base = {"ce-specversion": "1.0", "ce-id": "b1", "ce-source": ONESTOP, "ce-type": "dossier.status.changed"}
    problem_of(post(bus, data, "application/xml", **base), 415, "unsupported_media_type")
    problem_of(
        post(bus, data, "application/json", **{**base, "ce-specversion": "2.0"}), 400, "malformed_event"
    )
    problem_of(
        post(bus, data, "application/json", **{**base, "ce-subject": "%ZZ%C3"}), 400, "malformed_event"
    )
    problem_of(post(bus, b"{not json", "application/json", **base), 400, "malformed_json")


@pytest.mark.parametrize(
    ("key", "headers"),
    [("", {}), ("lt_not-a-key", {}), ("", {"Authorization": "Basic dXNlcjpwYXNz"}), ("x" * 10_000, {})],
)
def test_missing_or_wrong_key_is_401(bus: BusProcess, key: str, headers: dict[str, str]) -> None:
    reply = post(bus, dumps(event()), STRUCTURED, key=key, **headers)
    problem_of(reply, 401, "unauthenticated")
    assert reply.headers["www-authenticate"].startswith("Bearer")


def test_other_routes_answer_problems(bus: BusProcess) -> None:
    with bus.client(OPERATOR) as operator:
        problem_of(operator.get("/v1/nothing-here"), 404, "not_found")
        refused = operator.delete("/v1/events")
        problem_of(refused, 405, "method_not_allowed")
        assert refused.headers["allow"] == "POST"  # RFC 9110: a 405 says what is allowed
        assert operator.get("/v1/evidence:query").headers["allow"] == "POST"
        assert operator.put("/v1/types").headers["allow"] == "GET"
        problem_of(
            operator.get("/v1/subscriptions/portal/dead-letters", params={"limit": 0}), 400, "invalid_request"
        )
        problem_of(operator.get("/v1/subscriptions/absent"), 404, "not_found")
        problem_of(operator.get("/v1/types/dossier.unknown/versions/1/schema"), 404, "not_found")
        problem_of(
            operator.post("/v1/subscriptions/portal/dead-letters/replay", content=b"{"),
            400,
            "invalid_request",
        )
        # a replay that names no letters is malformed, not forbidden; a boolean is true or false
        for body in ({}, {"all": 1}, {"all": "true"}, {"ids": ["1"]}, {"all": True, "al": True}):
            problem_of(
                operator.post("/v1/subscriptions/portal/dead-letters/replay", json=body),
                400,
                "invalid_request",
            )
        # the methods of every route of the path (GET and DELETE), not of the first one only
        refused = operator.put("/v1/subscriptions/portal/dead-letters")
        problem_of(refused, 405, "method_not_allowed")
        assert refused.headers["allow"] == "DELETE, GET"
        # a replay round's and a listing page's bounds: 1 to 10,000 letters, 1 to 1,000
        for limit in (0, -1, 10_001, "x"):
            problem_of(
                operator.post(
                    "/v1/subscriptions/portal/dead-letters/replay", json={"all": True, "limit": limit}
                ),
                400,
                "invalid_request",
            )
        problem_of(
            operator.get("/v1/subscriptions/portal/dead-letters", params={"limit": 1001}),
            400,
            "invalid_request",
        )
    with bus.client(OUTSIDER) as outsider:
        problem_of(outsider.get("/v1/subscriptions/portal"), 404, "not_found")
        problem_of(
            outsider.post("/v1/subscriptions/portal/dead-letters/replay", json={"all": True}),
            404,
            "not_found",
        )
        assert outsider.get("/v1/subscriptions").json() == []


def test_contracts_are_served(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        types = {t["type"]: t for t in client.get("/v1/types").json()}
        assert {
            "dossier.submitted",
            "dossier.status.changed",
            "dossier.progress.updated",
            "dossier.result.issued",
        } <= set(types)
        reply = client.get(types["dossier.status.changed"]["schema_url"])
        assert reply.headers["content-type"] == "application/schema+json"
        assert reply.json()["$id"] == "urn:lienthong:schema:dossier.status.changed:3"
    assert httpx.get(f"{bus.url}/v1/types").status_code == 401


async def test_nothing_was_written_by_bad_requests(bus: BusProcess, receiver: Receiver) -> None:
    # runs after the tests above (same module bus): none of their requests reached a queue, so
    # the sentinel, queued behind anything they wrote, is the first and only event delivered
    sentinel = status_changed(7, 1)
    assert post(bus, dumps(sentinel), STRUCTURED).status_code == 202
    events = await delivered_through(receiver, sentinel["id"])
    assert [e["id"] for e in events] == [sentinel["id"]]
    with bus.client(OPERATOR) as operator:
        assert await lag_drains(operator, "portal") == 0
    metrics = httpx.get(f"{bus.url}/metrics").text
    assert (
        'lienthong_events_rejected_total{reason="schema_violation"' in metrics
        or 'reason="schema_violation"' in metrics
    )
    assert httpx.get(f"{bus.url}/healthz").json() == {"status": "ok"}


def test_openapi_document_lists_the_api(bus: BusProcess) -> None:
    document = httpx.get(f"{bus.url}/openapi.json").json()
    assert {"/v1/events", "/v1/types", "/v1/subscriptions", "/v1/subscriptions/{name}/dead-letters"} <= set(
        document["paths"]
    )
    content = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    assert {STRUCTURED, BATCH, "application/json"} <= set(content)


def test_config_file_is_not_touched(bus: BusProcess) -> None:
    assert Path(bus.path).exists()


async def test_a_client_that_goes_away_mid_body_is_no_error_of_the_bus(bus: BusProcess) -> None:
    """A publisher that announces a body and closes its connection before sending it all: nothing
    is appended, and the bus logs no "unexpected error" (nor a traceback) for it."""
    body = dumps(event())
    for path in ("/v1/events", "/v1/evidence:query"):
        # closed 0.3 s in: the bus is reading the body
        await abandon_request(bus, path, ONESTOP, STRUCTURED, body, linger_s=0.3)
    reply = post(bus, body, STRUCTURED)  # the bus goes on serving
    assert reply.status_code == 202, reply.text
    log = bus.log.read_text()
    assert "unexpected error" not in log and "Traceback" not in log
