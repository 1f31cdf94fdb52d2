"""What runs first after an append's commit: the consumers it wakes, then the appenders.

A delivery woken by an append has its request on the wire before the appender (the publish
request) resumes, even when its HTTP client writes the request from a task of its own, as
aiohttp does on Python 3.11: the log's writer answers the appender one loop turn after waking the
consumers, so the publish reply does not come between the delivery's request and its body
(docs/benchmarks.md, "Latency").
"""

from __future__ import annotations

import asyncio

from router.ports import Message
from tests.unit.adapters.embedded.conftest import MakeLog


async def test_a_woken_consumer_sends_before_the_appender_resumes(make_log: MakeLog) -> None:
    log = await make_log()
    await log.create_topic("in", 1)
    consumer = log.consumer("delivery", "in")
    await consumer.start()
    order: list[str] = []
    sent: list[asyncio.Task[None]] = []

    async def request_written() -> None:
        order.append("request written")

    async def deliver() -> None:
        batches = await consumer.fetch(10, 5.0)
        assert [m.value for m in batches[0]] == [b"one"]
        # an HTTP client writing its request from a task of its own
        sent.append(asyncio.get_running_loop().create_task(request_written()))

    delivery = asyncio.create_task(deliver())
    await asyncio.sleep(0)  # the consumer waits for an append
    await log.append("in", [Message("k", b"one", (("ce_id", b"1"),))])
    order.append("appender resumed")
    await delivery
    await asyncio.gather(*sent)
    assert order == ["request written", "appender resumed"]
