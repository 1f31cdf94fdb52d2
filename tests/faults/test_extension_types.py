"""Extension attributes published in structured mode keep their CloudEvents type on the way
through the bus: JSON numbers and booleans in structured and batch deliveries, header text
(percent-encoded where the HTTP binding says so) in binary deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.events import status_changed
from tests.support.receiver import Receiver

STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}
EXTENSIONS: dict[str, Any] = {"count": 3, "flag": True, "name": "x", "place": "Đà Nẵng", "negative": -7}


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    running = {mode: Receiver().start() for mode in ("structured", "binary", "batch")}
    try:
        yield running
    finally:
        for receiver in running.values():
            receiver.stop()


async def test_integer_and_boolean_extensions_reach_every_delivery_mode_typed(
    tmp_path: Path, receivers: dict[str, Receiver]
) -> None:
    config = (
        BusConfig(tmp_path)
        .subscribe("structured", receivers["structured"].url, mode="structured")
        .subscribe("binary", receivers["binary"].url)
        .subscribe("batch", receivers["batch"].url, batch=10)
    )
    single, *pair = [{**status_changed(1, sequence), **EXTENSIONS} for sequence in (1, 2, 3)]
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        reply = client.post("/v1/events", json=single, headers=STRUCTURED)
        assert reply.status_code == 202, reply.text
        for receiver in receivers.values():
            await receiver.wait_for(1)
        # two events of the dossier published together: the batch subscription sends them in one call
        reply = client.post("/v1/events", json=pair, headers=BATCH)
        assert reply.status_code == 202, reply.text
        await receivers["structured"].wait_for(3)
        await receivers["binary"].wait_for(3)
        await receivers["batch"].wait_for(2)
    structured = [orjson.loads(received.body) for received in receivers["structured"].received]
    batched = orjson.loads(receivers["batch"].received[1].body)
    assert [event["id"] for event in batched] == [pair[0]["id"], pair[1]["id"]]
    for delivered in (*structured, *batched):
        assert {name: delivered[name] for name in EXTENSIONS} == EXTENSIONS
        assert type(delivered["count"]) is int and type(delivered["flag"]) is bool
    headers = receivers["binary"].received[0].headers
    assert {name: headers[f"ce-{name}"] for name in EXTENSIONS} == {
        "count": "3",
        "flag": "true",
        "name": "x",
        "place": "%C4%90%C3%A0%20N%E1%BA%B5ng",
        "negative": "-7",
    }
    # the bus's own record of the types stays inside the bus
    for receiver in receivers.values():
        assert not any("lienthong" in name for name in receiver.received[0].headers)
        assert b"lienthong_types" not in receiver.received[0].body
