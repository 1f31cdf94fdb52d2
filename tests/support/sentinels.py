"""Proving that an event did *not* reach a receiver, without waiting "long enough".

A sleep followed by "nothing arrived" passes whenever routing is slower than the sleep. Instead a
test publishes, after the events that must not arrive, a *sentinel*: an event the subscription
does receive, in the same order domain (the same subject, or any subject on a one-partition bus:
a partition is routed and delivered strictly in order). Once the sentinel is delivered, every
event published before it in that domain has been routed and, had it been routed to this
subscription, delivered first; what the receiver holds then is final for those events.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.support.events import delivered
from tests.support.receiver import Receiver


async def delivered_through(
    receiver: Receiver, sentinel_id: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """The events ``receiver`` got, in arrival order, once the event ``sentinel_id`` is among them."""
    return await delivered_until(receiver, "id", sentinel_id, timeout)


async def delivered_until(
    receiver: Receiver, attribute: str, value: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """The events ``receiver`` got, in arrival order, once one whose ``attribute`` is ``value``
    is among them (the sentinel: an id, or the subject of a dossier's collection)."""
    deadline = time.monotonic() + timeout
    while True:
        events = delivered(receiver.received)
        if any(event.get(attribute) == value for event in events):
            return events
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no event with {attribute} {value} was delivered; got {[e.get(attribute) for e in events]}"
            )
        await asyncio.sleep(0.01)


async def lag_drains(operator: httpx.Client, subscription: str, timeout: float = 10.0) -> int:
    """The subscription's lag once it is 0, or the last lag seen after ``timeout``: the bus commits
    a delivered batch's offsets just after the receiver answered, so lag reaches 0 a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        lag = int(operator.get(f"/v1/subscriptions/{subscription}").json()["lag"])
        if lag == 0 or time.monotonic() > deadline:
            return lag
        await asyncio.sleep(0.05)
