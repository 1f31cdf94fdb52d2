"""Kafka pipelines on the same broker in one run: consume -> (validate) -> produce, three ways.

Run: ``LIENTHONG_KAFKA_BOOTSTRAP=127.0.0.1:19092 .venv/bin/python -m bench.kafka_pipeline [--events N]``
(FastStream comes with ``pip install -e '.[bench]'``).

1. raw aiokafka (the baseline): a consumer group reads, an idempotent ``acks=all`` producer
   (the transport's settings, batch size included) writes every message again as it is (key,
   headers, value) with ``send``, offsets committed per batch;
2. lienthong: KafkaTransport + Router with the inbound checks of direct producers (envelope,
   known source, policy, registered type, JSON Schema of the data, subject) + routing to the
   subscription's delivery topic, through the bus's consume loop (commit after the append);
3. FastStream: a subscriber that decodes the JSON, validates it against the same schema and
   republishes it with its headers.

Each reads its own copy of the same CloudEvents (Kafka binary mode, 8 partitions; FastStream
fewer of them, ``--faststream-events``), written before the clock starts; the clock runs until
every message was consumed and its output acked. Raw and lienthong alternate ``--rounds`` times
(each round on fresh topics): the medians and ranges of the rates and of each round's ratio are
reported, as one run on a shared machine is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from adapters.kafka import KafkaTransport
from adapters.kafka.options import KafkaOptions
from adapters.kafka.transport import BATCH_BYTES
from adapters.metrics import PrometheusMetrics
from bench.end_to_end import event, portal_config
from bench.verdict import AT_LEAST, ratio_line
from lienthong.loading import load
from router.consuming import ConsumeLoop
from router.envelope import from_structured, to_message
from router.ports import StoredMessage
from router.publishing import INBOUND_TOPIC, EventChecks
from router.routing import InboundChecks, Router

PARTITIONS = 8


def write_config(folder: Path, bootstrap: str, namespace: str) -> Path:
    _, document = portal_config(
        {
            "kind": "kafka",
            "bootstrap_servers": bootstrap.split(","),
            "namespace": namespace,
            "partitions": PARTITIONS,
            "path": str(folder / "dead-letters.db"),
        },
        {"url": "http://127.0.0.1:9/events"},
    )
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def producer(bootstrap: str) -> AIOKafkaProducer:
    # The same producer settings as KafkaTransport's: the baseline pays for the same guarantees.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        max_request_size=4 << 20,
        max_batch_size=BATCH_BYTES,
    )


async def fill(transport: KafkaTransport, topics: Sequence[str], events: int, run: str) -> None:
    messages = [to_message(from_structured(event(i, run))) for i in range(events)]
    for topic in topics:
        await transport.create_topic(topic, PARTITIONS)
        for start in range(0, events, 5000):
            await transport.append(topic, messages[start : start + 5000])


async def raw_passthrough(bootstrap: str, source: str, target: str, events: int) -> float:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"{source}.raw",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    out = producer(bootstrap)
    await consumer.start()
    await out.start()
    try:
        started, done = time.perf_counter(), 0
        while done < events:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            pending = [
                await out.send(target, r.value, key=r.key, headers=list(r.headers))
                for records in batches.values()
                for r in records
            ]
            await asyncio.gather(*pending)
            await consumer.commit()
            done += len(pending)
        return time.perf_counter() - started
    finally:
        await consumer.stop()
        await out.stop()


async def lienthong_pipeline(config: Path, events: int) -> float:
    settings, registry = load(config)
    assert settings.transport.kafka is not None
    transport = KafkaTransport(settings.transport.kafka)
    await transport.start()
    metrics = PrometheusMetrics()
    checks = InboundChecks(settings.directory, EventChecks(registry, settings.policy))
    router = Router(settings.subscriptions, settings.policy, transport, metrics, checks)
    for subscription in settings.subscriptions:
        await transport.create_topic(subscription.topic, PARTITIONS)
    counted = 0
    finished = asyncio.Event()

    async def handle(batches: Mapping[int, Sequence[StoredMessage]]) -> None:
        nonlocal counted
        await router.handle(batches)
        counted += sum(len(b) for b in batches.values())
        if counted >= events:
            finished.set()

    consumer = transport.consumer("router", INBOUND_TOPIC)
    await consumer.start()
    loop = ConsumeLoop("router", consumer, handle)
    started = time.perf_counter()
    task = asyncio.create_task(loop.run())
    await finished.wait()
    elapsed = time.perf_counter() - started
    loop.stop()
    await task
    await transport.close()
    return elapsed


async def faststream_pipeline(config: Path, bootstrap: str, source: str, target: str, events: int) -> float:
    from faststream.kafka import KafkaBroker, KafkaMessage

    _, registry = load(config)
    ref = registry.resolve("dossier.status.changed", None)
    # logger=None: FastStream logs two lines per message by default, which would be its whole cost.
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all", linger_ms=2, logger=None)
    counted = 0
    finished = asyncio.Event()

    @broker.subscriber(source, group_id=f"{source}.faststream", auto_offset_reset="earliest")
    async def republish(body: dict[str, Any], message: KafkaMessage) -> None:
        nonlocal counted
        if registry.validate(ref, body):
            return  # invalid: dropped (none are, in this run)
        record = message.raw_message
        assert not isinstance(record, tuple)  # a single message, not a batch subscriber's
        await broker.publish(body, target, key=record.key, headers=message.headers)
        counted += 1
        if counted >= events:
            finished.set()

    async with broker:
        started = time.perf_counter()
        await broker.start()
        await finished.wait()
        return time.perf_counter() - started


async def round_of(bootstrap: str, folder: Path, run: str, number: int, events: int) -> tuple[float, float]:
    """One raw and one lienthong pipeline, each on its own copy of the events: their rates."""
    namespace = f"bench-{run}-{number}."
    config = write_config(folder, bootstrap, namespace)
    transport = KafkaTransport(KafkaOptions((bootstrap,), default_partitions=PARTITIONS, namespace=namespace))
    await transport.start()
    await fill(transport, ["raw.in", INBOUND_TOPIC], events, run)
    await transport.create_topic("raw.out", PARTITIONS)
    await transport.close()
    raw = await raw_passthrough(bootstrap, namespace + "raw.in", namespace + "raw.out", events)
    ours = await lienthong_pipeline(config, events)
    return events / raw, events / ours


async def main(events: int, faststream_events: int, rounds: int) -> None:
    bootstrap = os.environ.get("LIENTHONG_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    run = uuid.uuid4().hex[:8]
    raw_rates: list[float] = []
    our_rates: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        # Rounds alternate the two pipelines, so that a slower spell of the machine or the broker
        # falls on both; each round's ratio compares neighbours.
        for number in range(rounds):
            print(f"round {number + 1}/{rounds}: filling 2 topics with {events} events ...", flush=True)
            raw, ours = await round_of(bootstrap, Path(folder), run, number, events)
            raw_rates.append(raw)
            our_rates.append(ours)
            print(f"  raw {raw:9,.0f}/s   lienthong {ours:9,.0f}/s   ratio {ours / raw:.2f}", flush=True)
        namespace = f"bench-{run}-fs."
        config = write_config(Path(folder), bootstrap, namespace)
        transport = KafkaTransport(
            KafkaOptions((bootstrap,), default_partitions=PARTITIONS, namespace=namespace)
        )
        await transport.start()
        await fill(transport, ["faststream.in"], faststream_events, run)
        await transport.create_topic("faststream.out", PARTITIONS)
        await transport.close()
        fast = faststream_events / await faststream_pipeline(
            config, bootstrap, namespace + "faststream.in", namespace + "faststream.out", faststream_events
        )
    ratios = [ours / raw for raw, ours in zip(raw_rates, our_rates, strict=True)]
    ours = statistics.median(our_rates)
    print(f"medians of {rounds} round(s), {events} events each (min - max):")
    for name, rates in (("raw aiokafka pass-through", raw_rates), ("lienthong validate+route", our_rates)):
        print(
            f"{name:32s} {statistics.median(rates):10,.0f} events/s ({min(rates):,.0f} - {max(rates):,.0f})"
        )
    print(f"{'FastStream validate+republish':32s} {fast:10,.0f} events/s ({faststream_events} events)")
    ratio_line("bench.kafka_pipeline", "kafka pipeline, events/s (x raw aiokafka)", ratios, AT_LEAST, 0.92)
    print(f"lienthong / FastStream     {ours / fast:.2f}x (target >= 2x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    # FastStream's idiomatic publish awaits each message's ack: fewer events keep the run short.
    parser.add_argument("--faststream-events", type=int, default=5_000)
    # Raw and lienthong alternate this many times; medians and ranges are reported.
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.events, arguments.faststream_events, arguments.rounds))
