"""Wiring: the settings turned into a running bus, started and stopped as one.

Start order: the log, the topics, the deliveries, the router; the HTTP API accepts requests once
the lifespan has started all of them. Stop order (SIGTERM, Ctrl-C): uvicorn stops accepting and
finishes requests in flight, then the consume loops finish the batch in hand within
``drain_timeout_s`` and commit (a delivery that would wait on a down sink gives its batch up at
once: see SubscriptionDelivery.drain); what is not committed by then is redelivered at the next
start, and the process exits 0.

:class:`Runtime` holds the parts and orders their start and stop; the rest lives beside it:
the consume loops in :mod:`lienthong.workers`, a subscription's delivery in
:mod:`lienthong.deliveries`, a reload carried out in :mod:`lienthong.reloading`, the HTTP API in
:mod:`lienthong.http_api`, the process under uvicorn in :mod:`lienthong.serving`, and reading the
configuration file in :mod:`lienthong.loading`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from adapters.audit import AuditMetrics
from adapters.embedded.deadletters import EmbeddedDeadLetters
from adapters.embedded.log import EmbeddedLog
from adapters.kafka import KafkaTransport
from adapters.metrics import PrometheusMetrics
from adapters.webhook import new_http_client, webhook_sink_factory
from connectors.base import Connector, ConnectorDeps
from lienthong.audit_wiring import audit_log
from lienthong.config import Settings
from lienthong.connectors import build_connectors
from lienthong.deliveries import DeliveryBuilder
from lienthong.evidence import EvidenceWiring
from lienthong.inbound_checks import inbound_checks_of
from lienthong.reload import Changes
from lienthong.reloading import reload_configuration
from lienthong.tracing import tracer_of
from lienthong.workers import Workers
from router.bus import Bus
from router.dead_letter_reading import DeadLetterReading
from router.delivery import SubscriptionDelivery
from router.envelope import CloudEvent
from router.errors import LienthongError, Unavailable
from router.ports import StoredMessage, Transport
from router.publishing import INBOUND_TOPIC, Publisher
from router.routing import INBOUND_DEAD_LETTERS, Router
from schemas.registry import SchemaRegistry

log = logging.getLogger("lienthong")

LAG_INTERVAL_S = 5.0
# who a reload by signal is recorded as, in the audit log (the signal names no one)
SIGNAL_REQUESTER = "SIGHUP"


class _CurrentPublisher:
    """The evidence collector publishes under the bus's configuration of the moment."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def publish(self, system_id: str, events: Sequence[CloudEvent], batch: bool) -> object:
        return await self._bus.publish_as(system_id, events, batch)

    async def accepted_before(self, source: str, event_id: str) -> bool:
        return await self._bus.accepted_before(source, event_id)


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
        # spans of publishes, sink calls and provider calls, when `tracing:` is configured
        self.tracer = tracer_of(settings.tracing)
        # The audit log (an AuditLog) before the parts that release personal data through it;
        # started first and closed last. A short key in the environment fails here (ConfigError).
        self.audit = audit_log(settings.audit, AuditMetrics(self.metrics_registry))
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
        self.connector_deps = ConnectorDeps(self.metrics_registry, Path(transport.path).parent)
        self.connectors: dict[str, Connector] = build_connectors(settings, self.connector_deps)
        publisher = Publisher(
            self.registry, settings.policy, self.transport, self.metrics, tracer=self.tracer
        )
        # the running deliveries by subscription; the Bus reads this very dict
        self.deliveries: dict[str, SubscriptionDelivery] = {}
        self.bus = Bus(
            settings.directory,
            settings.policy,
            self.registry,
            publisher,
            self.transport,
            self.dead_letters,
            settings.subscriptions,
            self.deliveries,
            audit=self.audit,
            # the catalogue of the moment: a reload may reclass a dataset
            reading=DeadLetterReading(lambda: self.settings.catalogue.datasets),
        )
        # before the deliveries: the evidence collector (a sink) publishes through the bus
        self.evidence = EvidenceWiring(
            settings,
            self.connectors,
            _CurrentPublisher(self.bus),
            self.metrics_registry,
            self.audit,
            self.tracer,
        )
        self.delivery_builder = DeliveryBuilder(
            self.evidence,
            webhook_sink_factory(self.http_client),
            self.tracer,
            self.dead_letters,
            self.metrics,
        )
        self.deliveries.update(
            {s.name: self.delivery_builder.build(s, self.connectors) for s in settings.subscriptions}
        )
        self.inbound_checks = inbound_checks_of(settings, registry)
        self.router = Router(
            settings.subscriptions, settings.policy, self.transport, self.metrics, self.inbound_checks
        )
        self.workers = Workers(self.transport, drain_timeout_s)  # the consume loops
        self._lag_task: asyncio.Task[None] | None = None
        self.stopping = False  # set when the shutdown starts: /readyz says so at once
        self._reload_lock = asyncio.Lock()  # reloads run one at a time, and not during a shutdown
        self.reload_on_sighup = False  # set by serve(): SIGHUP reloads the configuration
        self._signal_reloads: set[asyncio.Task[None]] = set()
        # changed subscriptions whose loop could not start again after a reload (readiness)
        self.not_restarted: set[str] = set()

    async def _route(self, batches: Mapping[int, Sequence[StoredMessage]]) -> None:
        # the router of the moment, read once per batch: a batch is routed under one configuration
        await self.router.handle(batches)

    async def start(self) -> None:
        await self.audit.start()
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
            await self.workers.start(subscription, self.deliveries[subscription.name])
        await self.workers.start_router(self._route)
        self._lag_task = asyncio.create_task(self._sample_lag(), name="lag")
        log.info("lienthong started: %d subscriptions", len(self.deliveries))

    async def _sample_lag(self) -> None:
        while True:
            for subscription in self.settings.subscriptions:
                try:
                    lag = await self.transport.lag(subscription.group, subscription.topic)
                except Exception:  # a transport outage shows in /readyz; the gauge keeps its last value
                    log.warning("lag of %s not sampled", subscription.name, exc_info=True)
                    continue
                if subscription.name in self.bus.generation.subscriptions:  # not removed meanwhile
                    self.metrics.lag(subscription.name, lag)
            await asyncio.sleep(LAG_INTERVAL_S)

    async def stop(self) -> None:
        self.stopping = True
        async with self._reload_lock:  # a reload in progress finishes first
            await self._stop()

    async def _stop(self) -> None:
        workers = self.workers.running()
        for worker in workers:
            worker.loop.stop()
        # Calls in flight finish, but a delivery waiting on a down sink (back-off, open circuit)
        # gives up its batch at once, uncommitted: a down sink must not hold the shutdown up.
        for delivery in self.deliveries.values():
            delivery.drain()
        tasks = [worker.task for worker in workers]
        done, pending = await asyncio.wait(tasks, timeout=self.drain_timeout_s) if tasks else (set(), set())
        for delivery in self.deliveries.values():
            delivery.stop()
        lag = [self._lag_task] if self._lag_task is not None else []
        for task in [*pending, *lag]:
            task.cancel()
        for task in [*tasks, *lag]:
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
        await self.audit.close()
        if self.tracer is not None:
            await self.tracer.close()  # the last spans, those of the drain, are sent
        log.info("lienthong stopped (%d loops drained, %d cancelled)", len(done), len(pending))

    async def reload(self, requester: str = SIGNAL_REQUESTER, official: str = "") -> Changes:
        """Reads the configuration file again and puts it in force, or refuses it whole.

        Raises :class:`~lienthong.reload.ConfigInvalid` (nothing changed) when the file is not
        valid, changes what only a restart can change, or alters a published contract;
        :class:`~router.audit.AuditUnavailable` when the reload cannot be audited (nothing
        changed); Unavailable during a shutdown or when a new connector does not start.
        Reloads run one at a time. See docs/operations.md, "Reload the configuration".
        """
        async with self._reload_lock:
            if self.stopping:
                raise Unavailable("the bus is shutting down; reload refused")
            return await reload_configuration(self, requester, official)

    async def readiness(self) -> dict[str, bool]:
        """What /readyz reports: the transport, the workers, the circuit of every critical
        subscription (``critical: true``), and the audit store when there is one."""
        checks = await self.bus.ready()
        tasks = [w.task for w in self.workers.running()] + ([self._lag_task] if self._lag_task else [])
        checks["workers"] = (
            self.workers.router is not None and not any(t.done() for t in tasks) and not self.not_restarted
        )
        checks["accepting"] = not self.stopping
        for subscription in self.settings.subscriptions:
            if subscription.critical:
                delivery = self.deliveries.get(subscription.name)
                closed = delivery is None or delivery.circuit_state != "open"
                checks[f"sink:{subscription.name}"] = closed
        audit = getattr(self, "audit", None)
        if audit is not None:
            try:
                checks["audit"] = bool(await audit.healthy())
            except Exception:  # a failing health check is a "no", never an error of /readyz
                log.warning("the audit store's health check failed", exc_info=True)
                checks["audit"] = False
        return checks

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        # Everything built so far (modules, schemas, configuration) lives as long as the process:
        # out of the collector's sight, a full collection no longer walks it (~70 ms each, several
        # a second under load, before; ~1 ms after: bench.kafka_pipeline, py-spy).
        gc.collect()  # start-up's garbage first: frozen, it would never be freed
        gc.freeze()
        if self.reload_on_sighup:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
        try:
            yield
        finally:
            if self.reload_on_sighup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await self.stop()

    def _on_sighup(self) -> None:
        task = asyncio.create_task(self._reload_by_signal(), name="reload")
        self._signal_reloads.add(task)
        task.add_done_callback(self._signal_reloads.discard)

    async def _reload_by_signal(self) -> None:
        """SIGHUP: the same reload as the API's; its outcome goes to the log (reload logs it)."""
        with contextlib.suppress(LienthongError):
            await self.reload(SIGNAL_REQUESTER, f"pid {os.getpid()}")
