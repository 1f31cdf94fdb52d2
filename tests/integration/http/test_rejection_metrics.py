"""``lienthong_events_rejected_total`` counts every refused publish request, read from a real
bus's ``/metrics``: a request refused before its events are checked (bad JSON, bad envelope,
content type, size, key, a client gone, the log down) once under its problem code, with type
``unknown`` and the caller's system (or ``unauthenticated``); an event the publisher's checks
refuse once per event, by the publisher, and not again for its request."""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.bus import ONESTOP, OUTSIDER, BusConfig, BusProcess, abandon_request
from tests.support.events import status_changed

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
REJECTED = "lienthong_events_rejected_total"

Labels = tuple[str, str, str]  # type, source, reason


@pytest.fixture(scope="module")
def bus_config(tmp_path_factory: pytest.TempPathFactory) -> BusConfig:
    return BusConfig(tmp_path_factory.mktemp("bus"), http={"max_body": "64KiB", "max_batch": 10})


def rejected(bus: BusProcess) -> dict[Labels, float]:
    """The rejected counter's series, scraped and parsed as Prometheus would."""
    text = httpx.get(f"{bus.url}/metrics", timeout=10).text
    return {
        (sample.labels["type"], sample.labels["source"], sample.labels["reason"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == REJECTED
    }


def increase(before: dict[Labels, float], after: dict[Labels, float]) -> dict[Labels, float]:
    return {
        labels: value - before.get(labels, 0.0)
        for labels, value in after.items()
        if value != before.get(labels, 0.0)
    }


def post(bus: BusProcess, body: bytes, content_type: str, key: str | None = None) -> httpx.Response:
    token = bus.config.keys[ONESTOP] if key is None else key
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{bus.url}/v1/events", content=body, headers=headers, timeout=30)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def bad_data(number: int, sequence: int) -> dict[str, Any]:
    event = status_changed(number, sequence)
    event["data"]["status"] = "four"
    return event


def test_each_refused_request_counts_once_under_its_code(bus: BusProcess) -> None:
    sent: list[tuple[httpx.Response, int, str]] = []

    def expect(reply: httpx.Response, status: int, code: str) -> None:
        sent.append((reply, status, code))

    before = rejected(bus)
    expect(post(bus, b'{"specversion": ', STRUCTURED), 400, "malformed_json")
    expect(
        post(bus, dumps({**status_changed(1, 1), "specversion": "0.3"}), STRUCTURED), 400, "malformed_event"
    )
    expect(post(bus, dumps([]), BATCH), 400, "malformed_event")
    expect(post(bus, dumps(status_changed(1, 1)), "text/plain"), 415, "unsupported_media_type")
    expect(post(bus, b'{"x": "' + b"a" * 70_000 + b'"}', STRUCTURED), 413, "payload_too_large")
    # eleven events over a limit of ten: one request refused, counted once, not eleven times
    batch = [status_changed(1, i) for i in range(11)]
    expect(post(bus, dumps(batch), BATCH), 413, "payload_too_large")
    expect(post(bus, dumps(status_changed(1, 1)), STRUCTURED, key=""), 401, "unauthenticated")
    expect(post(bus, dumps(status_changed(1, 1)), STRUCTURED, key="lt_not-a-key"), 401, "unauthenticated")
    # refused by the publisher's checks, which count each bad event themselves: nothing more
    expect(post(bus, dumps([bad_data(2, 1), bad_data(2, 2)]), BATCH), 422, "schema_violation")
    expect(
        post(bus, dumps({**status_changed(3, 1), "type": "dossier.unknown"}), STRUCTURED), 422, "unknown_type"
    )
    # refused by policy: a registered type is named, one the bus does not know is not
    expect(post(bus, dumps({**status_changed(5, 1), "source": OUTSIDER}), STRUCTURED), 403, "forbidden")
    expect(post(bus, dumps({**status_changed(5, 2), "type": "payment.made"}), STRUCTURED), 403, "forbidden")
    expect(post(bus, dumps(status_changed(4, 1)), STRUCTURED), 202, "")  # accepted: not counted
    for reply, status, code in sent:
        assert reply.status_code == status, reply.text
        if code:
            assert reply.json()["code"] == code

    assert increase(before, rejected(bus)) == {
        ("unknown", ONESTOP, "malformed_json"): 1,
        ("unknown", ONESTOP, "malformed_event"): 2,
        ("unknown", ONESTOP, "unsupported_media_type"): 1,
        ("unknown", ONESTOP, "payload_too_large"): 2,
        ("unknown", "unauthenticated", "unauthenticated"): 2,
        ("dossier.status.changed", ONESTOP, "schema_violation"): 2,
        ("unknown", ONESTOP, "unknown_type"): 1,
        ("dossier.status.changed", ONESTOP, "forbidden"): 1,
        ("unknown", ONESTOP, "forbidden"): 1,
    }


async def test_a_client_gone_mid_body_counts_once(bus: BusProcess) -> None:
    before = rejected(bus)
    await abandon_request(bus, "/v1/events", ONESTOP, STRUCTURED, dumps(status_changed(5, 1)))
    expected = {("unknown", ONESTOP, "client_disconnected"): 1.0}
    for _ in range(300):  # until the bus has noticed the connection closed (at most about 30 s)
        found = increase(before, await asyncio.to_thread(rejected, bus))
        if found == expected:
            break
        await asyncio.sleep(0.1)
    assert found == expected


def test_a_publish_refused_with_the_log_down_counts_once(tmp_path: Path) -> None:
    """The log's writes fail for real (the bus process's file-size limit lowered to one byte, as
    a full disk would): the publish is answered 503 ``unavailable`` after passing its checks, and
    counted once, as the request it was."""
    with BusProcess(BusConfig(tmp_path)) as bus:
        assert bus.process is not None
        assert post(bus, dumps(status_changed(1, 1)), STRUCTURED).status_code == 202
        before = rejected(bus)
        _, hard = resource.prlimit(bus.process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(bus.process.pid, resource.RLIMIT_FSIZE, (1, hard))
        try:
            reply = post(bus, dumps([status_changed(1, 2), status_changed(1, 3)]), BATCH)
        finally:
            resource.prlimit(bus.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, hard))
        assert reply.status_code == 503, reply.text
        assert reply.json()["code"] == "unavailable"
        assert increase(before, rejected(bus)) == {("unknown", ONESTOP, "unavailable"): 1}
