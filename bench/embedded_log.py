"""Appends/s through EmbeddedLog against the same rows inserted raw into SQLite, in one run.

Run: ``.venv/bin/python -m bench.embedded_log [--events N] [--durability fsync|os]``

The baseline is the floor of what the log can cost: the same message and dedup rows, in the same
tables (the log's own schema), inserted with executemany in one transaction per batch, with the same
``synchronous`` pragma, from the calling thread, no dedup lookup, no offsets, no event loop. The log
adds the dedup lookup, offset assignment, header encoding, the hop to its writer thread and back.
"Sequential" awaits each append before the next (one commit per batch); "concurrent" runs several
publishers at once, as the HTTP API does, so the writer commits their batches in groups. The last
line is the log's share of the bus's end-to-end path (two appends, two fetches, two commits per
event), for reading the end-to-end benchmark against.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from adapters.embedded import EmbeddedLog
from adapters.embedded.codec import encode_headers, partition_for
from adapters.embedded.tables import OFFSET_BITS, Durability, connect
from router.ports import Message

PARTITIONS = 8


def make_messages(count: int) -> list[Message]:
    """Event-shaped messages: a dossier status change in Kafka binary mode, ~1 KiB each."""
    out: list[Message] = []
    for index in range(count):
        event_id = str(uuid.uuid4())
        subject = f"000.00.00.H49-{index % 1000:06d}"
        data = orjson.dumps(
            {
                "dossierCode": subject,
                "procedureCode": "1.000894",
                "status": 1 + index % 10,
                "statusName": "Đã tiếp nhận hồ sơ",
                "agencyCode": "000.00.00.H49",
                "updatedAt": "2025-01-15T09:30:00+07:00",
                "officer": {"id": "CB-0042", "name": "Nguyễn Văn A"},
                "note": "Hồ sơ đầy đủ, chuyển phòng chuyên môn xử lý." * 3,
            }
        )
        headers = (
            ("ce_specversion", b"1.0"),
            ("ce_id", event_id.encode()),
            ("ce_source", b"urn:lienthong:000.00.00.H49/motcua"),
            ("ce_type", b"dossier.status.changed"),
            ("ce_subject", subject.encode()),
            ("ce_time", b"2025-01-15T09:30:00+07:00"),
            ("ce_dataschema", b"urn:lienthong:schema:dossier.status.changed:1"),
            ("content-type", b"application/json"),
        )
        out.append(
            Message(subject, data, headers, dedup_id=f"urn:lienthong:000.00.00.H49/motcua\n{event_id}")
        )
    return out


def raw_baseline(path: Path, durability: Durability, messages: list[Message], batch: int) -> float:
    conn = connect(path, durability, writer=True)
    bases = [(partition + 1) << OFFSET_BITS for partition in range(PARTITIONS)]
    nexts = [0] * PARTITIONS
    started = time.perf_counter()
    for first in range(0, len(messages), batch):
        rows = []
        dedup_rows = []
        for message in messages[first : first + batch]:
            partition = partition_for(message.key, PARTITIONS)
            offset = nexts[partition]
            nexts[partition] += 1
            rows.append(
                (
                    bases[partition] | offset,
                    0,
                    message.key,
                    message.value,
                    encode_headers(message.headers),
                    message.dedup_id,
                )
            )
            dedup_rows.append((1, message.dedup_id, partition, offset))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO messages (position, ts, msg_key, msg_value, headers, dedup_id) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO dedup (topic_id, dedup_id, partition_no, offset_no) VALUES (?, ?, ?, ?)", dedup_rows
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(messages) / elapsed


async def through_log(
    path: Path, durability: Durability, messages: list[Message], batch: int, publishers: int
) -> float:
    log = EmbeddedLog(path, default_partitions=PARTITIONS, durability=durability)
    await log.start()
    await log.create_topic("bench", PARTITIONS)
    batches = [messages[first : first + batch] for first in range(0, len(messages), batch)]

    async def publisher(mine: list[list[Message]]) -> None:
        for chunk in mine:
            await log.append("bench", chunk)

    started = time.perf_counter()
    await asyncio.gather(*(publisher(batches[index::publishers]) for index in range(publishers)))
    elapsed = time.perf_counter() - started
    await log.close()
    return len(messages) / elapsed


async def pipeline(path: Path, durability: Durability, messages: list[Message], batch: int) -> float:
    """The log's share of the bus: publish -> fan out to a delivery topic -> deliver and commit,
    three tasks on one log, no HTTP and no validation (events/s delivered)."""
    log = EmbeddedLog(path, default_partitions=PARTITIONS, durability=durability)
    await log.start()
    for topic in ("inbound", "deliver"):
        await log.create_topic(topic, PARTITIONS)
    total = len(messages)

    async def publish() -> None:
        for first in range(0, total, batch):
            await log.append("inbound", messages[first : first + batch])

    async def route() -> None:
        consumer = log.consumer("router", "inbound")
        routed = 0
        while routed < total:
            batches = await consumer.fetch(batch, 5.0)
            copies = [
                Message(m.key, m.value, m.headers, dedup_id=f"inbound/{m.partition}/{m.offset}")
                for ms in batches.values()
                for m in ms
            ]
            if copies:
                await log.append("deliver", copies)
                await consumer.commit({p: ms[-1].offset + 1 for p, ms in batches.items()})
                routed += len(copies)

    async def deliver() -> None:
        consumer = log.consumer("sink", "deliver")
        delivered = 0
        while delivered < total:
            batches = await consumer.fetch(batch, 5.0)
            if batches:
                await consumer.commit({p: ms[-1].offset + 1 for p, ms in batches.items()})
                delivered += sum(len(ms) for ms in batches.values())

    started = time.perf_counter()
    await asyncio.gather(publish(), route(), deliver())
    elapsed = time.perf_counter() - started
    await log.close()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--durability", choices=["fsync", "os"], default="fsync")
    parser.add_argument("--publishers", type=int, default=4)
    args = parser.parse_args()
    durability: Durability = args.durability
    messages = make_messages(args.events)
    size = sum(len(m.value) + len(encode_headers(m.headers)) + len(m.key) for m in messages) / len(messages)
    print(f"{args.events} events of ~{size:.0f} bytes, {PARTITIONS} partitions, durability={durability}")
    print(
        f"{'batch':>6} {'raw sqlite/s':>13} {'log seq/s':>11} {'ratio':>6} {'log x' + str(args.publishers) + '/s':>11} {'ratio':>6}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for batch in (100, 500):
            raw = raw_baseline(Path(scratch, f"raw{batch}.db"), durability, messages, batch)
            sequential = asyncio.run(
                through_log(Path(scratch, f"seq{batch}.db"), durability, messages, batch, 1)
            )
            concurrent = asyncio.run(
                through_log(Path(scratch, f"con{batch}.db"), durability, messages, batch, args.publishers)
            )
            print(
                f"{batch:>6} {raw:>13,.0f} {sequential:>11,.0f} {sequential / raw:>6.2f}"
                f" {concurrent:>11,.0f} {concurrent / raw:>6.2f}"
            )
        flow = asyncio.run(pipeline(Path(scratch, "pipeline.db"), durability, messages, 500))
        print(f"pipeline publish -> route -> deliver (batches of 500, no HTTP): {flow:,.0f} events/s")


if __name__ == "__main__":
    main()
