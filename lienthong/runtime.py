"""Wiring: the settings turned into a running bus, started and stopped as one.

Start order: the log, the topics, the deliveries, the router; the HTTP API accepts requests once
the lifespan has started all of them. Stop order (SIGTERM, Ctrl-C): uvicorn stops accepting and
finishes requests in flight, then the consume loops finish the batch in hand within
``drain_timeout_s`` and commit; what is not committed by then is redelivered at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from adapters.embedded.deadletters import EmbeddedDeadLetters
from adapters.embedded.log import EmbeddedLog
from adapters.http import create_app
from adapters.kafka import KafkaTransport
from adapters.metrics import PrometheusMetrics, render
from adapters.webhook import new_http_client, webhook_sink_factory
from lienthong.config import Settings, load_settings
from lienthong.connectors import Connector, ConnectorDeps, build_connectors, connector_sink
from router.bus import Bus
from router.consuming import ConsumeLoop
from router.delivery import SubscriptionDelivery
from router.ports import Transport
from router.publishing import INBOUND_TOPIC, EventChecks, Publisher
from router.routing import INBOUND_DEAD_LETTERS, InboundChecks, Router
from router.sinks import Sink
from router.subscriptions import SinkSpec
from schemas.registry import SchemaRegistry

log = logging.getLogger("lienthong")

ROUTER_GROUP = "router"
LAG_INTERVAL_S = 5.0


class Runtime:
    """Everything a running bus is made of."""

    def __init__(
        self, settings: Settings, registry: SchemaRegistry, *, drain_timeout_s: float = 10.0
    ) -> None:
        self.settings = settings
        self.drain_timeout_s = drain_timeout_s
        self.registry = registry
        self.metrics_registry = CollectorRegistry()
        self.metrics = PrometheusMetrics(self.metrics_registry)
        transport = settings.transport
        # The SQLite file: the embedded transport itself, or on Kafka the dead letters only.
        self.log = EmbeddedLog(
            Path(transport.path),
            default_partitions=transport.partitions,
            retention_s=transport.retention_s,
            durability=transport.durability,
        )
        self.transport: Transport = self.log if transport.kafka is None else KafkaTransport(transport.kafka)
        self.dead_letters = EmbeddedDeadLetters(self.log)
        self.http_client = new_http_client()
        self.connectors: dict[str, Connector] = build_connectors(
            settings, ConnectorDeps(self.metrics_registry, Path(transport.path).parent)
        )
        make_webhook = webhook_sink_factory(self.http_client)

        def make_sink(spec: SinkSpec) -> Sink:
            if spec.kind == "connector":
                return connector_sink(self.connectors, spec)
            return make_webhook(spec)

        self.deliveries = {
            s.name: SubscriptionDelivery(s, make_sink(s.sink), self.dead_letters, self.metrics)
            for s in settings.subscriptions
        }
        self.publisher = Publisher(self.registry, settings.policy, self.transport, self.metrics)
        # On Kafka agencies may produce straight into the inbound topic, so the router checks every
        # inbound message; on the embedded log only the HTTP API (which checked) writes it.
        self.inbound_checks = (
            None
            if transport.kafka is None
            else InboundChecks(settings.directory, EventChecks(self.registry, settings.policy))
        )
        self.router = Router(
            settings.subscriptions, settings.policy, self.transport, self.metrics, self.inbound_checks
        )
        self.bus = Bus(
            settings.directory,
            settings.policy,
            self.registry,
            self.publisher,
            self.transport,
            self.dead_letters,
            settings.subscriptions,
            self.deliveries,
        )
        self.loops: list[ConsumeLoop] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.log.path.parent.mkdir(parents=True, exist_ok=True)
        await self.log.start()
        if self.transport is not self.log:
            await self.transport.start()
        partitions = self.settings.transport.partitions
        await self.transport.create_topic(INBOUND_TOPIC, partitions)
        if self.inbound_checks is not None:
            await self.transport.create_topic(INBOUND_DEAD_LETTERS, partitions)
        for subscription in self.settings.subscriptions:
            await self.transport.create_topic(subscription.topic, partitions)
        for connector in self.connectors.values():
            await connector.start()
        for subscription in self.settings.subscriptions:
            delivery = self.deliveries[subscription.name]
            await delivery.start()
            consumer = self.transport.consumer(subscription.group, subscription.topic)
            await consumer.start()
            self.loops.append(ConsumeLoop(f"deliver {subscription.name}", consumer, delivery.handle))
        consumer = self.transport.consumer(ROUTER_GROUP, INBOUND_TOPIC)
        await consumer.start()
        self.loops.append(ConsumeLoop("router", consumer, self.router.handle))
        self._tasks = [asyncio.create_task(loop.run(), name=loop.name) for loop in self.loops]
        self._tasks.append(asyncio.create_task(self._sample_lag(), name="lag"))
        log.info("lienthong started: %d subscriptions", len(self.deliveries))

    async def _sample_lag(self) -> None:
        while True:
            for subscription in self.settings.subscriptions:
                try:
                    lag = await self.transport.lag(subscription.group, subscription.topic)
                except Exception:  # a transport outage shows in /readyz; the gauge keeps its last value
                    log.warning("lag of %s not sampled", subscription.name, exc_info=True)
                    continue
                self.metrics.lag(subscription.name, lag)
            await asyncio.sleep(LAG_INTERVAL_S)

    async def stop(self) -> None:
        for loop in self.loops:
            loop.stop()
        done, pending = (
            await asyncio.wait(self._tasks[:-1], timeout=self.drain_timeout_s) if self._tasks else ((), ())
        )
        for delivery in self.deliveries.values():
            delivery.stop()
        for task in [*pending, *self._tasks[-1:]]:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for delivery in self.deliveries.values():
            await delivery.close()
        for connector in self.connectors.values():
            await connector.aclose()
        await self.http_client.aclose()
        if self.transport is not self.log:
            await self.transport.close()  # the consumers leave their groups: others take over at once
        await self.log.close()
        log.info("lienthong stopped (%d loops drained, %d cancelled)", len(done), len(pending))

    async def readiness(self) -> dict[str, bool]:
        checks = await self.bus.ready()
        checks["workers"] = bool(self._tasks) and not any(t.done() for t in self._tasks)
        return checks

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def app(self) -> FastAPI:
        return create_app(
            self.bus,
            max_body_bytes=self.settings.http.max_body_bytes,
            max_batch_events=self.settings.http.max_batch_events,
            readiness=self.readiness,
            metrics=lambda: render(self.metrics_registry),
            lifespan=self.lifespan,
        )


def load(config: Path) -> tuple[Settings, SchemaRegistry]:
    """The settings of a file and the contracts they name, checked against each other: a
    subscription or policy naming an unregistered type is an error with its line number."""
    settings = load_settings(config)
    registry = SchemaRegistry.load(settings.schemas.path, settings.schemas.compatibility)
    return load_settings(config, {info.name for info in registry.types()}), registry


def serve(config: Path, *, host: str | None = None, port: int | None = None) -> None:
    """Runs the bus under uvicorn until SIGTERM or Ctrl-C."""
    settings, registry = load(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO: one line per webhook call is noise, and costs CPU
    logging.getLogger("httpx").setLevel(logging.WARNING)
    runtime = Runtime(settings, registry)
    server = uvicorn.Config(
        runtime.app(),
        host=host or settings.http.host,
        port=settings.http.port if port is None else port,
        loop="uvloop",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    uvicorn.Server(server).run()
