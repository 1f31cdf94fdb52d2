"""Reading the bus's ``/metrics`` as Prometheus would, and waiting for a counter to reach a value
(what a test waits on instead of sleeping "long enough")."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families


async def sample(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` (e.g. ``lienthong_deliveries_total``) whose labels
    include ``labels``; 0 when there is none (a labelled counter appears on its first increment)."""
    text = (await client.get("/metrics")).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


async def sample_reaches(
    client: httpx.AsyncClient, at_least: float, name: str, timeout: float = 30.0, **labels: str
) -> float:
    """The value of :func:`sample` once it is ``at_least``; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await sample(client, name, **labels)
        if value >= at_least:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name}{labels} stayed at {value}, below {at_least}")
        await asyncio.sleep(0.02)
