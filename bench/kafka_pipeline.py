"""Kafka pipelines on the same broker in one run: consume -> (validate) -> produce, three ways.

Run: ``LIENTHONG_KAFKA_BOOTSTRAP=127.0.0.1:19092 .venv/bin/python -m bench.kafka_pipeline [--events N]``
(FastStream comes with ``pip install -e '.[bench]'``).

1. raw aiokafka (the baseline): a consumer group reads, an idempotent ``acks=all`` producer
   (the transport's settings, batch size included, ``linger_ms=0``) writes every message again as
   it is (key, headers, value) with ``send``, offsets committed per batch;
2. lienthong: KafkaTransport + Router with the inbound checks of direct producers (envelope,
   known source, policy, registered type, JSON Schema of the data, subject) + routing to the
   subscription's delivery topic, through the bus's consume loop, in each routing mode of
   ``--routing``: ``at_least_once`` (commit after the append) and ``transactional`` (the appends
   and the offsets of each inbound partition in one Kafka transaction, docs/kafka.md);
3. FastStream: a subscriber that decodes the JSON, validates it against the same schema and
   republishes it with its headers.

Each reads its own copy of the same CloudEvents (Kafka binary mode, 8 partitions; FastStream
fewer of them, ``--faststream-events``), written before the clock starts; the clock runs until
every message was consumed and its output acked. Raw and lienthong alternate ``--rounds`` times
(each round on fresh topics): the medians and ranges of the rates and of each round's ratio are
reported, as one run on a shared machine is noisy; so is each pipeline's CPU per event (its
process's CPU time over the run), which the broker's share of the cores moves far less. ``--linger-ms 2 0`` runs the lienthong
pipelines with each producer linger (KafkaOptions.linger_ms) in the same rounds.

Before the rounds, the publish hop's latency: single events appended one at a time (nothing else
in flight), through raw aiokafka and through KafkaTransport.append at each linger (``--appends``).

``--shared-state`` (the database in ``LIENTHONG_STATE_DSN``, a ``postgresql://`` URL, as
``state.postgres`` names it) measures the shared state's cost where it lies on an event's way: the
publish hop. The router's loop reads and writes nothing of the shared state (the runtime builds
the Router without it), so the pipelines above are the same with it; every publish on Kafka with
``state.postgres`` claims its ids in the database before the append and settles them after
(router.publishing.Publisher). Each round then publishes the same events in batches of
``--publish-batch`` from ``--publishers`` concurrent callers three ways: raw aiokafka (the
producer above, each batch acknowledged when every record is), the Publisher on the Kafka transport
without the shared dedup, and with it (PostgresStateStore's dedup, fresh ids each round).
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
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from adapters.kafka import KafkaTransport
from adapters.kafka.options import KafkaOptions, Routing
from adapters.kafka.producing import BATCH_BYTES
from adapters.metrics import PrometheusMetrics
from adapters.state.postgres import PostgresStateStore
from bench.end_to_end import SOURCE, event, portal_config
from bench.verdict import AT_LEAST, ratio_line
from lienthong.loading import load
from router.consuming import ConsumeLoop, Handler
from router.envelope import from_structured, to_message
from router.ports import StoredMessage
from router.publishing import INBOUND_TOPIC, EventChecks, Publisher
from router.routing import InboundChecks, Router

PARTITIONS = 8
STATE_DSN_ENV = "LIENTHONG_STATE_DSN"  # the shared state's database, for --shared-state


def write_config(folder: Path, bootstrap: str, namespace: str, routing: Routing = "at_least_once") -> Path:
    _, document = portal_config(
        {
            "kind": "kafka",
            "bootstrap_servers": bootstrap.split(","),
            "namespace": namespace,
            "partitions": PARTITIONS,
            "path": str(folder / "dead-letters.db"),
            "routing": routing,
        },
        {"url": "http://127.0.0.1:9/events"},
    )
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def producer(bootstrap: str) -> AIOKafkaProducer:
    # KafkaTransport's guarantees and batch size, without lingering (linger_ms=0): the floor.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        max_request_size=4 << 20,
        max_batch_size=BATCH_BYTES,
    )


async def fill(transport: KafkaTransport, topics: Sequence[str], events: int, run: str) -> None:
    messages = [to_message(from_structured(event(i, run))) for i in range(events)]
    for topic in topics:
        await transport.create_topic(topic, PARTITIONS)
        for start in range(0, events, 5000):
            await transport.append(topic, messages[start : start + 5000])


async def raw_passthrough(bootstrap: str, source: str, target: str, events: int) -> tuple[float, float]:
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
        started, cpu, done = time.perf_counter(), time.process_time(), 0
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
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        await consumer.stop()
        await out.stop()


async def lienthong_pipeline(config: Path, events: int, linger_ms: int) -> tuple[float, float]:
    settings, registry = load(config)
    assert settings.transport.kafka is not None
    transport = KafkaTransport(replace(settings.transport.kafka, linger_ms=linger_ms))
    await transport.start()
    metrics = PrometheusMetrics()
    checks = InboundChecks(settings.directory, EventChecks(registry, settings.policy))
    router = Router(settings.subscriptions, settings.policy, transport, metrics, checks)
    for subscription in settings.subscriptions:
        await transport.create_topic(subscription.topic, PARTITIONS)
    counted = 0
    finished = asyncio.Event()

    def counting(route: Handler) -> Handler:
        async def handle(batches: Mapping[int, Sequence[StoredMessage]]) -> None:
            nonlocal counted
            await route(batches)
            counted += sum(len(b) for b in batches.values())
            if counted >= events:
                finished.set()

        return handle

    if settings.transport.kafka.routing == "transactional":
        consumer = transport.transactional_consumer("router", INBOUND_TOPIC)
        append_and_commit = consumer.append_and_commit

        async def route(batches: Mapping[int, Sequence[StoredMessage]]) -> None:
            await router.handle_atomically(batches, append_and_commit)

        loop = ConsumeLoop("router", consumer, counting(route), commits=False)
    else:
        consumer = transport.consumer("router", INBOUND_TOPIC)
        loop = ConsumeLoop("router", consumer, counting(router.handle))
    await consumer.start()
    started, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(loop.run())
    await finished.wait()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    loop.stop()
    await task
    await transport.close()
    return elapsed, cpu


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


async def concurrently(callers: int, batches: Sequence[Sequence[int]], send: Any) -> float:
    """Seconds for ``callers`` concurrent tasks to send every batch (each awaits its own)."""

    async def caller(mine: Sequence[Sequence[int]]) -> None:
        for batch in mine:
            await send(batch)

    started = time.perf_counter()
    await asyncio.gather(*(caller(batches[n::callers]) for n in range(callers)))
    return time.perf_counter() - started


async def publish_hop(
    bootstrap: str, dsn: str, config: Path, run: str, number: int, events: int, size: int, callers: int
) -> tuple[float, float, float]:
    """The publish hop three ways on the same events: raw aiokafka, the Publisher without the
    shared dedup, the Publisher with it (PostgreSQL); their rates."""
    namespace = f"bench-{run}-{number}-publish."
    settings, registry = load(config)
    batches = [range(start, min(start + size, events)) for start in range(0, events, size)]
    raw_topic = "raw.publish"
    documents = [event(i, run, f"{run}-{number}-{i}") for i in range(events)]
    messages = [to_message(from_structured(document)) for document in documents]

    plain_transport = KafkaTransport(
        KafkaOptions((bootstrap,), default_partitions=PARTITIONS, namespace=namespace)
    )
    shared_transport = KafkaTransport(
        KafkaOptions((bootstrap,), default_partitions=PARTITIONS, namespace=namespace + "shared.")
    )
    store = PostgresStateStore(dsn, retention_s=settings.transport.retention_s)
    out = producer(bootstrap)
    try:
        for transport in (plain_transport, shared_transport):
            await transport.start()
            await transport.create_topic(INBOUND_TOPIC, PARTITIONS)
        await plain_transport.create_topic(raw_topic, PARTITIONS)
        await store.start()
        await out.start()

        async def raw_send(batch: Sequence[int]) -> None:
            pending = [
                await out.send(
                    namespace + raw_topic,
                    messages[i].value,
                    key=messages[i].key.encode(),
                    headers=list(messages[i].headers),
                )
                for i in batch
            ]
            await asyncio.gather(*pending)

        def publishing(publisher: Publisher) -> Any:
            async def send(batch: Sequence[int]) -> None:
                accepted = await publisher.publish(
                    SOURCE, [from_structured(documents[i]) for i in batch], batch=True
                )
                assert not any(a.duplicate for a in accepted)

            return send

        plain = Publisher(registry, settings.policy, plain_transport, PrometheusMetrics())
        shared = Publisher(
            registry, settings.policy, shared_transport, PrometheusMetrics(), dedup=store.dedup
        )
        # one event each before the clocks: the producers' metadata and the pool's connections
        warm = [event(0, run, f"{run}-{number}-warm-{side}") for side in ("plain", "shared")]
        await raw_send([0])
        await plain.publish(SOURCE, [from_structured(warm[0])], batch=True)
        await shared.publish(SOURCE, [from_structured(warm[1])], batch=True)
        raw_s = await concurrently(callers, batches, raw_send)
        plain_s = await concurrently(callers, batches, publishing(plain))
        shared_s = await concurrently(callers, batches, publishing(shared))
    finally:
        await out.stop()
        await store.close()
        for transport in (plain_transport, shared_transport):
            await transport.close()
    return events / raw_s, events / plain_s, events / shared_s


# A lienthong pipeline: its routing mode and its producers' linger_ms.
Variant = tuple[Routing, int]


class Measured(NamedTuple):
    """A pipeline's events per second, and the CPU its process spent per event (µs): the
    broker's share of the cores moves the rate far more than the CPU per event."""

    rate: float
    cpu_us: float


def variant_name(variant: Variant) -> str:
    return f"{variant[0]}, linger_ms={variant[1]}"


async def round_of(
    bootstrap: str, folder: Path, run: str, number: int, events: int, variants: Sequence[Variant]
) -> tuple[Measured, dict[Variant, Measured]]:
    """One raw pipeline and one lienthong pipeline per variant, each on its own copy of the
    events: their rates and CPU per event."""
    namespace = f"bench-{run}-{number}."
    transport = KafkaTransport(KafkaOptions((bootstrap,), default_partitions=PARTITIONS, namespace=namespace))
    await transport.start()
    inbound = [f"{mode}.l{linger}.{INBOUND_TOPIC}" for mode, linger in variants]
    await fill(transport, ["raw.in", *inbound], events, run)
    await transport.create_topic("raw.out", PARTITIONS)
    await transport.close()
    raw = await raw_passthrough(bootstrap, namespace + "raw.in", namespace + "raw.out", events)
    ours: dict[Variant, Measured] = {}
    for mode, linger in variants:
        # each variant under its own namespace, whose inbound topic is the copy filled for it
        config = write_config(folder, bootstrap, f"{namespace}{mode}.l{linger}.", mode)
        ours[(mode, linger)] = measured(events, *await lienthong_pipeline(config, events, linger))
    return measured(events, *raw), ours


def measured(events: int, seconds: float, cpu_s: float) -> Measured:
    return Measured(events / seconds, cpu_s / events * 1e6)


async def append_latencies(bootstrap: str, run: str, lingers: Sequence[int], appends: int) -> None:
    """The publish hop alone, one event at a time with nothing else in flight (an event published
    at a quiet moment): each append's time until every in-sync replica has it, through raw
    aiokafka (send, then await the record's future) and through KafkaTransport.append at each
    linger_ms. Prints p50 and p99 in milliseconds."""
    namespace = f"bench-{run}-latency."
    message = to_message(from_structured(event(0, run)))
    results: list[tuple[str, list[float]]] = []
    raw = producer(bootstrap)
    await raw.start()
    transports = {
        linger: KafkaTransport(
            KafkaOptions((bootstrap,), default_partitions=1, namespace=namespace, linger_ms=linger)
        )
        for linger in lingers
    }
    try:
        for transport in transports.values():
            await transport.start()
        await transports[lingers[0]].create_topic("latency", 1)
        topic = namespace + "latency"
        headers = list(message.headers)
        timings: list[float] = []
        for _ in range(appends):
            started = time.perf_counter()
            await (await raw.send(topic, message.value, key=message.key.encode(), headers=headers))
            timings.append((time.perf_counter() - started) * 1000)
        results.append(("raw aiokafka send, linger_ms=0", timings))
        for linger, transport in transports.items():
            timings = []
            for _ in range(appends):
                started = time.perf_counter()
                await transport.append("latency", [message])
                timings.append((time.perf_counter() - started) * 1000)
            results.append((f"KafkaTransport.append, linger_ms={linger}", timings))
    finally:
        await raw.stop()
        for transport in transports.values():
            await transport.close()
    print(f"one event appended at a time, {appends} appends (ms):")
    for name, timings in results:
        cuts = statistics.quantiles(timings, n=100)
        print(f"  {name:40s} p50 {statistics.median(timings):6.2f}   p99 {cuts[98]:6.2f}")


async def main(
    events: int,
    faststream_events: int,
    rounds: int,
    modes: Sequence[Routing],
    lingers: Sequence[int],
    appends: int,
    shared_state: tuple[int, int] | None,
) -> None:
    """``shared_state``: the publish hop's batch size and callers, measured with the shared state."""
    bootstrap = os.environ.get("LIENTHONG_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    run = uuid.uuid4().hex[:8]
    variants: list[Variant] = [(mode, linger) for mode in modes for linger in lingers]
    raw_rates: list[float] = []
    our_rates: dict[Variant, list[float]] = {variant: [] for variant in variants}
    ratios: dict[Variant, list[float]] = {variant: [] for variant in variants}
    # per round, the raw pipeline's CPU per event over each variant's: the same ratio by CPU
    cpu_ratios: dict[Variant, list[float]] = {variant: [] for variant in variants}
    cpu_us: dict[str, list[float]] = {}
    dsn = os.environ.get(STATE_DSN_ENV, "")
    if shared_state is not None and not dsn:
        raise SystemExit(f"--shared-state: set {STATE_DSN_ENV} to the database (postgresql://...)")
    publish_rates: list[tuple[float, float, float]] = []
    if appends > 0:
        await append_latencies(bootstrap, run, lingers, appends)
    with tempfile.TemporaryDirectory() as folder:
        # Rounds alternate the pipelines, so that a slower spell of the machine or the broker
        # falls on all; each round's ratios compare neighbours.
        for number in range(rounds):
            print(
                f"round {number + 1}/{rounds}: filling {1 + len(variants)} topics with {events} events ...",
                flush=True,
            )
            raw, ours = await round_of(bootstrap, Path(folder), run, number, events, variants)
            raw_rates.append(raw.rate)
            cpu_us.setdefault("raw aiokafka pass-through", []).append(raw.cpu_us)
            line = f"  raw {raw.rate:9,.0f}/s {raw.cpu_us:5.1f} us CPU/event"
            for variant, mine in ours.items():
                our_rates[variant].append(mine.rate)
                ratios[variant].append(mine.rate / raw.rate)
                cpu_ratios[variant].append(raw.cpu_us / mine.cpu_us)
                cpu_us.setdefault(f"lienthong {variant_name(variant)}", []).append(mine.cpu_us)
                line += (
                    f"   {variant_name(variant)} {mine.rate:9,.0f}/s (ratio {mine.rate / raw.rate:.2f})"
                    f" {mine.cpu_us:5.1f} us CPU/event"
                )
            print(line, flush=True)
            if shared_state is not None:
                size, callers = shared_state
                config = write_config(Path(folder), bootstrap, f"bench-{run}-{number}-publish.")
                hop = await publish_hop(bootstrap, dsn, config, run, number, events, size, callers)
                publish_rates.append(hop)
                print(
                    f"  publish hop ({size} a batch, {callers} callers): raw {hop[0]:9,.0f}/s"
                    f"   no shared state {hop[1]:9,.0f}/s (ratio {hop[1] / hop[0]:.2f})"
                    f"   shared state {hop[2]:9,.0f}/s (ratio {hop[2] / hop[0]:.2f})",
                    flush=True,
                )
        fast: float | None = None
        if faststream_events > 0:
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
                config,
                bootstrap,
                namespace + "faststream.in",
                namespace + "faststream.out",
                faststream_events,
            )
    if rounds <= 0:
        return
    print(f"medians of {rounds} round(s), {events} events each (min - max):")
    named = [("raw aiokafka pass-through", raw_rates)]
    named += [(f"lienthong {variant_name(variant)}", rates) for variant, rates in our_rates.items()]
    for name, rates in named:
        print(
            f"{name:45s} {statistics.median(rates):10,.0f} events/s ({min(rates):,.0f} - {max(rates):,.0f})"
        )
    for name, spent in cpu_us.items():
        print(
            f"{name:45s} {statistics.median(spent):10.1f} us CPU/event ({min(spent):.1f} - {max(spent):.1f})"
        )
    for name, index in (
        ("publish hop, raw aiokafka", 0),
        ("publish hop, no shared state", 1),
        ("publish hop, shared state", 2),
    ):
        if publish_rates:
            rates = [r[index] for r in publish_rates]
            print(
                f"{name:45s} {statistics.median(rates):10,.0f} events/s ({min(rates):,.0f} - {max(rates):,.0f})"
            )
    if fast is not None:
        print(f"{'FastStream validate+republish':45s} {fast:10,.0f} events/s ({faststream_events} events)")
    for variant, variant_ratios in ratios.items():
        # the bus's default (at_least_once, no linger) under the row name of make bench's table
        row = "kafka pipeline, events/s (x raw aiokafka)"
        if variant != ("at_least_once", 0):
            row = f"kafka pipeline, {variant_name(variant)}"
        ratio_line("bench.kafka_pipeline", row, variant_ratios, AT_LEAST, 0.92)
        by_cpu = cpu_ratios[variant]
        print(
            f"  the same by CPU per event (raw's / lienthong's): {statistics.median(by_cpu):.3f}"
            f" ({min(by_cpu):.3f} - {max(by_cpu):.3f}, no target)"
        )
        if fast is not None:
            print(
                f"lienthong {variant_name(variant)} / FastStream     "
                f"{statistics.median(our_rates[variant]) / fast:.2f}x (target >= 2x)"
            )
    if publish_rates:
        own = [shared / plain for _, plain, shared in publish_rates]
        print(
            f"publish hop, shared state / no shared state: {statistics.median(own):.3f} ({min(own):.3f} - {max(own):.3f})"
        )
        # the target for the Kafka path, kept with the shared state on
        ratio_line(
            "bench.kafka_pipeline",
            "kafka publish hop, shared state (x raw aiokafka)",
            [shared / raw for raw, _, shared in publish_rates],
            AT_LEAST,
            0.92,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    # FastStream's idiomatic publish awaits each message's ack: fewer events keep the run short.
    parser.add_argument("--faststream-events", type=int, default=5_000)
    # Raw and lienthong alternate this many times; medians and ranges are reported.
    parser.add_argument("--rounds", type=int, default=3)
    # The router's routing modes to measure (transport.kafka.routing), each against the same raw run.
    parser.add_argument(
        "--routing",
        nargs="+",
        choices=["at_least_once", "transactional"],
        default=["at_least_once", "transactional"],
    )
    # The producers' linger_ms of the lienthong pipelines (KafkaOptions.linger_ms), each measured:
    # "2 0" compares a lingering producer with the transport's default in one run.
    parser.add_argument("--linger-ms", type=int, nargs="+", default=[0])
    # Single-event appends timed one at a time (the publish hop's latency); 0 skips them.
    parser.add_argument("--appends", type=int, default=300)
    # The publish hop with the shared state (state.postgres) in LIENTHONG_STATE_DSN, each round.
    parser.add_argument("--shared-state", action="store_true")
    # Its publishes: events per batch, and concurrent callers.
    parser.add_argument("--publish-batch", type=int, default=100)
    parser.add_argument("--publishers", type=int, default=8)
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.events,
            arguments.faststream_events,
            arguments.rounds,
            arguments.routing,
            arguments.linger_ms,
            arguments.appends,
            (arguments.publish_batch, arguments.publishers) if arguments.shared_state else None,
        )
    )
