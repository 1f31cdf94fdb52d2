"""A webhook receiver down for longer than the breaker's pause but shorter than the retry budget,
under the bus's default policies (8 attempts within 60 s; the circuit opens after 5 failures, for
30 s): every waiting event is delivered once it is back, in order, and none is dead-lettered."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from adapters.embedded.codec import partition_for
from tests.support.bus import ONESTOP, OPERATOR, BusConfig, BusProcess
from tests.support.events import delivered, dossier_code, sequence_of, status_changed
from tests.support.receiver import Receiver

BATCH = {"Content-Type": "application/cloudevents-batch+json"}
PARTITIONS = 8
OUTAGE_S = 45.0
PER_DOSSIER = 3
# The wait for delivery once the receiver is back: the last chances come at the budgets' end
# (60 s after the first attempts, so about 15 s after the receiver is back), plus slack for a
# loaded machine.
DELIVERY_TIMEOUT_S = 60.0


def dossiers_covering(partitions: int) -> list[int]:
    """Dossier numbers whose subjects fill every partition, two dossiers each."""
    chosen: dict[int, list[int]] = defaultdict(list)
    number = 0
    while any(len(chosen[p]) < 2 for p in range(partitions)):
        partition = partition_for(dossier_code(number), partitions)
        if len(chosen[partition]) < 2:
            chosen[partition].append(number)
        number += 1
    return sorted(n for numbers in chosen.values() for n in numbers)


async def wait_for_circuit(operator: httpx.Client, state: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while operator.get("/v1/subscriptions/portal").json()["circuit"] != state:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the circuit did not become {state}")
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_a_45_s_outage_under_the_default_policies_dead_letters_nothing(tmp_path: Path) -> None:
    receiver = Receiver().start()  # started once to fix its port, then down for the outage
    receiver.stop()
    config = BusConfig(tmp_path, partitions=PARTITIONS).subscribe("portal", receiver.url, bus_policies=True)
    dossiers = dossiers_covering(PARTITIONS)
    events = [status_changed(n, s) for s in range(1, PER_DOSSIER + 1) for n in dossiers]
    try:
        with BusProcess(config) as bus, bus.client(ONESTOP) as client, bus.client(OPERATOR) as operator:
            reply = client.post("/v1/events", json=events, headers=BATCH)
            assert reply.status_code == 202, reply.text
            # the circuit opens after the first failed attempts: the outage counts from then
            await wait_for_circuit(operator, "open")
            await asyncio.sleep(OUTAGE_S)
            receiver.start()
            with contextlib.suppress(TimeoutError):  # the dead letters below say why
                await receiver.wait_for(len(events), timeout=DELIVERY_TIMEOUT_S)
            letters = operator.get("/v1/subscriptions/portal/dead-letters").json()
            assert [(letter["event_id"], letter["last_error"]) for letter in letters] == []
            status = operator.get("/v1/subscriptions/portal").json()
            assert (status["dead_letters"], status["circuit"]) == (0, "closed")
    finally:
        receiver.stop()
    got = delivered(receiver.received)
    assert sorted(event["id"] for event in got) == sorted(event["id"] for event in events)
    by_subject: dict[str, list[int]] = defaultdict(list)
    for event in got:
        subject, sequence = sequence_of(event)
        by_subject[subject].append(sequence)
    assert by_subject == {dossier_code(n): list(range(1, PER_DOSSIER + 1)) for n in dossiers}
