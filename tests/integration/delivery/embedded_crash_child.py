"""The process test_embedded_crash.py kills: it works on an embedded log until SIGKILL.

``produce PATH DURABILITY``: appends batches of BATCH messages to topic ``in`` forever; message n has
key ``k{n % KEYS}``, value ``n`` and dedup id ``id-n``. Prints ``ack N`` once the batch ending with
message N is acknowledged (durable).

``consume PATH``: reads topic ``in`` as group ``g``; for each fetched batch prints
``fetched P FIRST LAST`` and commits, per partition, the offset of the *middle* message, so the
second half stays fetched but uncommitted; prints ``commit P OFFSET`` once the commit is durable.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from adapters.embedded import EmbeddedLog
from router.ports import Message

KEYS = 20
BATCH = 50


async def produce(path: Path, durability: str) -> None:
    log = EmbeddedLog(path, durability=durability)  # type: ignore[arg-type]
    await log.start()
    print("ready", flush=True)
    sequence = 0
    while True:
        batch = []
        for _ in range(BATCH):
            batch.append(Message(f"k{sequence % KEYS}", str(sequence).encode(), dedup_id=f"id-{sequence}"))
            sequence += 1
        await log.append("in", batch)
        print(f"ack {sequence - 1}", flush=True)


async def consume(path: Path) -> None:
    log = EmbeddedLog(path)
    await log.start()
    consumer = log.consumer("g", "in")
    await consumer.start()
    print("ready", flush=True)
    while True:
        batches = await consumer.fetch(20, 1.0)
        offsets: dict[int, int] = {}
        for partition, messages in batches.items():
            print(f"fetched {partition} {messages[0].offset} {messages[-1].offset}", flush=True)
            offsets[partition] = messages[len(messages) // 2].offset
        if offsets:
            await consumer.commit(offsets)
            for partition, offset in offsets.items():
                print(f"commit {partition} {offset}", flush=True)


if __name__ == "__main__":
    mode, where = sys.argv[1], Path(sys.argv[2])
    asyncio.run(produce(where, sys.argv[3]) if mode == "produce" else consume(where))
