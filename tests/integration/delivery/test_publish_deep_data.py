"""Data nested deeper than the bus can store, inside a member the schema leaves free-form: a clear
``malformed_event`` with the pointer of the data, never a 500, and nothing written.

The request parser reads JSON up to 1024 levels deep; the encoder that stores an event's data
writes up to 254. ``dossier.evidence.collected`` leaves ``found[].data`` free-form (it carries a
dataset's record), so its schema lets data in between through.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.bus import ONESTOP, PORTAL, BusConfig, BusProcess
from tests.support.paths import DATA
from tests.support.receiver import Receiver

COLLECTED = json.loads((DATA / "events/dossier.evidence.collected/valid-complete.json").read_text())


@pytest.fixture(scope="module")
def bus_config(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> BusConfig:
    config = BusConfig(tmp_path_factory.mktemp("bus"))
    # the receiver is the recipient of the released records: only it may subscribe to them
    return config.subscribe(
        "collected",
        receiver.url,
        types=["dossier.evidence.collected"],
        filters=[{"exact": {"recipient": PORTAL}}],
    )


def collected(event_id: str, depth: int) -> dict[str, Any]:
    nested: Any = "bottom"
    for _ in range(depth):
        nested = {"a": nested}
    data = json.loads(json.dumps(COLLECTED))
    data["found"][0]["data"] = {"deep": nested}
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": ONESTOP,
        "type": "dossier.evidence.collected",
        "subject": data["dossierCode"],
        "recipient": PORTAL,
        "data": data,
    }


def publish(bus: BusProcess, body: Any, batch: bool) -> httpx.Response:
    kind = "application/cloudevents-batch+json" if batch else "application/cloudevents+json"
    headers = {"Content-Type": kind, "Authorization": f"Bearer {bus.config.keys[ONESTOP]}"}
    return httpx.post(f"{bus.url}/v1/events", content=json.dumps(body).encode(), headers=headers, timeout=30)


@pytest.mark.parametrize("batch", [False, True], ids=["one event", "in a batch"])
async def test_data_too_deep_to_store_is_a_malformed_event(
    bus: BusProcess, receiver: Receiver, batch: bool
) -> None:
    receiver.reset()
    deep = collected(f"deep-{batch}", 300)
    reply = publish(bus, [collected(f"fine-{batch}", 3), deep] if batch else deep, batch)
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["code"] == "malformed_event"
    assert [e["pointer"] for e in problem["errors"]] == ["/1/data" if batch else "/data"]

    # nothing was written: the next event is the first the subscriber gets
    sentinel = publish(bus, collected(f"after-{batch}", 3), False)
    assert sentinel.status_code == 202, sentinel.text
    await receiver.wait_for(1)
    assert [r.headers["ce-id"] for r in receiver.received] == [f"after-{batch}"]
