"""Wiring: the settings turned into a running bus, started and stopped as one.

Start order: the log, the topics, the deliveries, the router (on the embedded log, the router's
catch-up before the deliveries: it routes at publish); the HTTP API accepts requests once
the lifespan has started all of them. Stop order (SIGTERM, Ctrl-C): uvicorn stops accepting and
finishes requests in flight, then the consume loops finish the batch in hand within
``drain_timeout_s`` and commit (a delivery that would wait on a down sink gives its batch up at
once: see SubscriptionDelivery.drain); what is not committed by then is redelivered at the next
start, and the process exits 0.

:class:`Runtime` holds the parts, orders their start and stop, and puts a reload's plan in force
(:meth:`Runtime.apply`); the rest lives beside it: the consume loops in :mod:`lienthong.workers`,
a subscription's delivery in :mod:`lienthong.deliveries`, a reload checked, built and prepared in
:mod:`lienthong.reload_plan` (which sees the runtime as a ``Reloadable``), the HTTP API in
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

from adapters.audit import AuditMetrics, SqliteAuditLog
from adapters.embedded.deadletters import EmbeddedDeadLetters
from adapters.embedded.log import EmbeddedLog
from adapters.http.console.sessions import LocalRevocations
from adapters.kafka import KafkaTransport
from adapters.metrics import PrometheusMetrics
from adapters.provider_http import AiohttpClient, ClientFactory
from adapters.state import PostgresStateStore
from adapters.state.postgres_attempts import PostgresAttempts
from adapters.state.postgres_audit import PostgresAuditLog
from adapters.state.postgres_dead_letters import PostgresDeadLetters
from adapters.state.postgres_revocations import PostgresRevocations
from adapters.webhook import new_http_client, webhook_sink_factory
from connectors.base import Connector, ConnectorDeps
from lienthong.audit_wiring import audit_log, shared_audit_log
from lienthong.config import Settings
from lienthong.connectors import build_connectors
from lienthong.deliveries import DeliveryBuilder
from lienthong.evidence import EvidenceWiring
from lienthong.faults import kill_after_routed
from lienthong.inbound_checks import inbound_checks_of
from lienthong.otel_wiring import tracer_of
from lienthong.reload_plan import ReloadParts, ReloadPlan, reload_configuration
from lienthong.reload_rules import Changes
from lienthong.workers import ROUTER_GROUP, Workers, routing_at_publish
from router.bus import Bus, Generation
from router.consuming import MAX_MESSAGES
from router.dead_letter_reading import DeadLetterReading
from router.delivery import SubscriptionDelivery
from router.envelope import CloudEvent
from router.errors import LienthongError, Unavailable
from router.ports import DeadLetterStore, StoredMessage, Transport
from router.publishing import INBOUND_TOPIC, Publisher
from router.routing import INBOUND_DEAD_LETTERS, Router
from router.state import SessionRevocations
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
    """Everything a running bus is made of. Its state is its own: others read it through the
    properties below, and a reload changes it only through :meth:`apply`."""

    def __init__(
        self,
        settings: Settings,
        registry: SchemaRegistry,
        *,
        drain_timeout_s: float = 10.0,
        reload_on_sighup: bool = False,
        rest_client: ClientFactory = AiohttpClient,
    ) -> None:
        self._settings = settings
        self._drain_timeout_s = drain_timeout_s
        self._registry = registry
        self._metrics_registry = CollectorRegistry()
        self._metrics = PrometheusMetrics(self._metrics_registry)
        # spans of publishes, sink calls and provider calls, when `tracing:` is configured
        self._tracer = tracer_of(settings.tracing)
        # The audit log (an AuditLog) before the parts that release personal data through it;
        # started first and closed last. A short key in the environment fails here (ConfigError).
        # The shared state (state.postgres): the audit log's chain and the publish dedup of every
        # process of the bus; without it, the process's own SQLite files.
        postgres = settings.state.postgres
        self._state = (
            None
            if postgres is None
            else PostgresStateStore(
                postgres.dsn,
                retention_s=settings.transport.retention_s,
                pool_size=postgres.pool_size,
                timeout_s=postgres.timeout_s,
            )
        )
        # console sign-outs: refused by every process when the state is shared
        self._revocations: SessionRevocations = (
            LocalRevocations() if self._state is None else PostgresRevocations(self._state)
        )
        audit_metrics = AuditMetrics(self._metrics_registry)
        self._audit: SqliteAuditLog | PostgresAuditLog = (
            audit_log(settings.audit, audit_metrics)
            if self._state is None
            else shared_audit_log(settings.audit, self._state, audit_metrics)
        )
        transport = settings.transport
        # The SQLite file: the embedded transport itself, or on Kafka the dead letters only; none
        # on Kafka with the shared state, where the process keeps nothing of its own on disk.
        shared_on_kafka = self._state is not None and transport.kafka is not None
        self._log: EmbeddedLog | None = (
            None
            if shared_on_kafka
            else EmbeddedLog(
                Path(transport.path),
                default_partitions=transport.partitions,
                retention_s=transport.retention_s,
                durability=transport.durability,
            )
        )
        self._transport: Transport
        if transport.kafka is not None:
            self._transport = KafkaTransport(transport.kafka)
        else:
            assert self._log is not None
            self._transport = self._log
        # On Kafka with the shared state, the dead letters of every process in the database (listed
        # and replayed through any process); else in the SQLite file, where the embedded log
        # commits a letter with the offset that skips its message
        self._dead_letters: DeadLetterStore
        if self._state is not None and shared_on_kafka:
            self._dead_letters = PostgresDeadLetters(self._state)
        else:
            assert self._log is not None
            self._dead_letters = EmbeddedDeadLetters(self._log)
        if isinstance(self._dead_letters, PostgresDeadLetters):
            self._metrics.export_dead_letters(False)  # until this process leads (_sample_lag)
        self._http_client = new_http_client()
        connector_deps = ConnectorDeps(
            self._metrics_registry,
            Path(transport.path).parent,
            rest_client=rest_client,
            shared_state=self._state,
        )
        self._connectors: Mapping[str, Connector] = build_connectors(settings, connector_deps)
        self._inbound_checks = inbound_checks_of(settings, registry)
        self._router = Router(
            settings.subscriptions,
            settings.policy,
            self._transport,
            self._metrics,
            self._inbound_checks,
            released_types=registry.released_types(),
        )
        # on the embedded log the publisher routes in its own append (after _catch_up_router)
        self._routing_at_publish = routing_at_publish(self._transport, self._router)
        publisher = Publisher(
            self._registry,
            settings.policy,
            self._transport,
            self._metrics,
            tracer=self._tracer,
            # the embedded log deduplicates in its own append; Kafka keeps no dedup ids
            dedup=self._state.dedup if self._state is not None and transport.kafka is not None else None,
            routing=self._routing_at_publish,
        )
        # the running deliveries by subscription: the bus reads one at a time (_delivery_of)
        self._deliveries: dict[str, SubscriptionDelivery] = {}
        self._bus = Bus(
            settings.directory,
            settings.policy,
            self._registry,
            publisher,
            self._transport,
            self._dead_letters,
            settings.subscriptions,
            self._delivery_of,
            audit=self._audit,
            # the catalogue of the moment: a reload may reclass a dataset
            reading=DeadLetterReading(lambda: self._settings.catalogue.datasets),
        )
        # before the deliveries: the evidence collector (a sink) publishes through the bus
        self._evidence = EvidenceWiring(
            settings,
            self._connectors,
            _CurrentPublisher(self._bus),
            self._metrics_registry,
            self._audit,
            self._tracer,
            attempts=None if self._state is None else PostgresAttempts(self._state),
        )
        delivery_builder = DeliveryBuilder(
            self._evidence,
            webhook_sink_factory(self._http_client),
            self._tracer,
            self._dead_letters,
            self._metrics,
        )
        self._deliveries.update(
            {s.name: delivery_builder.build(s, self._connectors) for s in settings.subscriptions}
        )
        # what a reload builds its plan on (lienthong.reload_plan)
        self._reload_parts = ReloadParts(
            connector_deps, delivery_builder, self._transport, self._metrics, self._tracer, self._audit
        )
        self._workers = Workers(  # the consume loops
            self._transport,
            drain_timeout_s,
            max_messages=self._log.fetch_size if self._transport is self._log else MAX_MESSAGES,
        )
        self._after_routed = kill_after_routed()  # a crash test's fault point (lienthong.faults)
        self._lag_task: asyncio.Task[None] | None = None
        self._stopping = False  # set when the shutdown starts: /readyz says so at once
        self._reload_lock = asyncio.Lock()  # reloads run one at a time, and not during a shutdown
        self._reload_on_sighup = reload_on_sighup  # serve() sets it: SIGHUP reloads the configuration
        self._signal_reloads: set[asyncio.Task[None]] = set()
        # changed subscriptions whose loop could not start again after a reload (readiness)
        self._not_restarted: set[str] = set()

    # --- what others read ----------------------------------------------------------------------

    @property
    def bus(self) -> Bus:
        return self._bus

    @property
    def settings(self) -> Settings:
        """The configuration in force."""
        return self._settings

    @property
    def registry(self) -> SchemaRegistry:
        """The contracts in force."""
        return self._registry

    @property
    def connectors(self) -> Mapping[str, Connector]:
        """The connectors of the configuration in force, by name."""
        return self._connectors

    @property
    def generation(self) -> Generation:
        return self._bus.generation

    @property
    def evidence(self) -> EvidenceWiring:
        return self._evidence

    @property
    def audit(self) -> SqliteAuditLog | PostgresAuditLog:
        return self._audit

    @property
    def revocations(self) -> SessionRevocations:
        return self._revocations

    @property
    def metrics(self) -> PrometheusMetrics:
        return self._metrics

    @property
    def metrics_registry(self) -> CollectorRegistry:
        return self._metrics_registry

    @property
    def not_restarted(self) -> frozenset[str]:
        """Changed subscriptions whose loop did not start again after the last reload."""
        return frozenset(self._not_restarted)

    @property
    def reload_parts(self) -> ReloadParts:
        return self._reload_parts

    def _delivery_of(self, subscription: str) -> SubscriptionDelivery | None:
        return self._deliveries.get(subscription)

    async def _route(self, batches: Mapping[int, Sequence[StoredMessage]]) -> None:
        # the router of the moment, read once per batch: a batch is routed under one configuration
        await self._router.handle(batches)
        if self._after_routed is not None:
            self._after_routed()  # durable in the delivery topics, offsets not committed yet

    async def _start_router(self) -> None:
        """The router's loop; on a transactional Kafka bus its consumer commits the offsets of
        each inbound partition in the transaction of what was routed from it (docs/kafka.md)."""
        if self._routing_at_publish is not None:
            # the backlog of a log written by a bus that routed in a loop; then no loop
            await self._workers.catch_up_router(self._route)
            return
        transport = self._transport
        if not isinstance(transport, KafkaTransport) or transport.options.routing != "transactional":
            await self._workers.start_router(self._route)
            return
        consumer = transport.transactional_consumer(ROUTER_GROUP, INBOUND_TOPIC, self._after_routed)

        async def route(batches: Mapping[int, Sequence[StoredMessage]]) -> None:
            await self._router.handle_atomically(batches, consumer.append_and_commit)

        await self._workers.start_router(route, consumer, commits=False)

    async def start(self) -> None:
        if self._state is not None:
            await self._state.start()  # the schema migrated before anything uses it
        await self._audit.start()
        if self._log is not None:
            self._log.path.parent.mkdir(parents=True, exist_ok=True)
            await self._log.start()
        if self._transport is not self._log:
            await self._transport.start()
        partitions = self._settings.transport.partitions
        await self._transport.create_topic(INBOUND_TOPIC, partitions)
        if self._inbound_checks is not None:
            await self._transport.create_topic(INBOUND_DEAD_LETTERS, partitions)
        for subscription in self._settings.subscriptions:
            await self._transport.create_topic(subscription.topic, partitions)
        for connector in self._connectors.values():
            await connector.start()
        if self._routing_at_publish is not None:
            # before the deliveries: the evidence collector, a sink, publishes
            await self._start_router()
        for subscription in self._settings.subscriptions:
            await self._workers.start(subscription, self._deliveries[subscription.name])
        if self._routing_at_publish is None:
            await self._start_router()
        self._lag_task = asyncio.create_task(self._sample_lag(), name="lag")
        log.info("lienthong started: %d subscriptions", len(self._deliveries))

    async def _sample_lag(self) -> None:
        while True:
            try:
                await self._export_shared_dead_letters()
            except Exception:  # the database away: the next round asks again
                log.warning("the dead-letter counts were not exported", exc_info=True)
            for subscription in self._settings.subscriptions:
                try:
                    lag = await self._transport.lag(subscription.group, subscription.topic)
                except Exception:  # a transport outage shows in /readyz; the gauge keeps its last value
                    log.warning("lag of %s not sampled", subscription.name, exc_info=True)
                    continue
                if subscription.name in self._bus.generation.subscriptions:  # not removed meanwhile
                    self._metrics.lag(subscription.name, lag)
            await asyncio.sleep(LAG_INTERVAL_S)

    async def _export_shared_dead_letters(self) -> None:
        """With the dead letters in the shared database, the leader of the bus exports their
        counts (read afresh, as replays and purges through other processes change them) and the
        other processes export 0: summed over the processes, the gauge is the deployment's."""
        if self._state is None or not isinstance(self._dead_letters, PostgresDeadLetters):
            return
        leading = await self._state.leads()
        self._metrics.export_dead_letters(leading)
        if not leading:
            return
        for subscription in self._settings.subscriptions:
            try:
                current = await self._dead_letters.count(subscription.name)
            except Exception:  # the database away: the gauge keeps its last value
                log.warning("dead letters of %s not counted", subscription.name, exc_info=True)
                continue
            if subscription.name in self._bus.generation.subscriptions:  # not removed meanwhile
                self._metrics.dead_letters(subscription.name, current)

    async def stop(self) -> None:
        self._stopping = True
        async with self._reload_lock:  # a reload in progress finishes first
            await self._stop()

    async def _stop(self) -> None:
        workers = self._workers.running()
        for worker in workers:
            worker.loop.stop()
        # Calls in flight finish, but a delivery waiting on a down sink (back-off, open circuit)
        # gives up its batch at once, uncommitted: a down sink must not hold the shutdown up.
        for delivery in self._deliveries.values():
            delivery.drain()
        tasks = [worker.task for worker in workers]
        done, pending = await asyncio.wait(tasks, timeout=self._drain_timeout_s) if tasks else (set(), set())
        for delivery in self._deliveries.values():
            delivery.stop()
        lag = [self._lag_task] if self._lag_task is not None else []
        for task in [*pending, *lag]:
            task.cancel()
        for task in [*tasks, *lag]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for delivery in self._deliveries.values():
            await delivery.close()
        for connector in self._connectors.values():
            await connector.aclose()
        await self._http_client.aclose()
        if self._transport is not self._log:
            await self._transport.close()  # the consumers leave their groups: others take over at once
        if self._log is not None:
            await self._log.close()
        await self._audit.close()
        if self._state is not None:
            await self._state.close()
        if self._tracer is not None:
            await self._tracer.close()  # the last spans, those of the drain, are sent
        log.info("lienthong stopped (%d loops drained, %d cancelled)", len(done), len(pending))

    async def reload(self, requester: str = SIGNAL_REQUESTER, official: str = "") -> Changes:
        """Reads the configuration file again and puts it in force, or refuses it whole.

        Raises :class:`~lienthong.reload_rules.ConfigInvalid` (nothing changed) when the file is not
        valid, changes what only a restart can change, or alters a published contract;
        :class:`~router.audit.AuditUnavailable` when the reload cannot be audited (nothing
        changed); Unavailable during a shutdown or when a new connector does not start.
        Reloads run one at a time. See docs/operations.md, "Reload the configuration".
        """
        async with self._reload_lock:
            if self._stopping:
                raise Unavailable("the bus is shutting down; reload refused")
            return await reload_configuration(self, requester, official)

    async def start_added(self, plan: ReloadPlan) -> None:
        """The loops of the plan's added subscriptions, idle until events are routed to them; all
        or none: on failure the ones started are drained again and nothing has changed."""
        try:
            for name in plan.changes.subscriptions_added:
                await self._workers.start(plan.generation.subscriptions[name], plan.deliveries[name])
        except Exception:
            for name in plan.changes.subscriptions_added:
                if name in self._workers:
                    await self._workers.drain(name)
            raise

    async def apply(self, plan: ReloadPlan) -> None:
        """Puts a checked plan in force, its added subscriptions' loops already running
        (:meth:`start_added`): the new configuration replaces the old in one step (no await in
        between: no request, no batch sees half of each); then the loops of removed and changed
        subscriptions drain their batch in hand, commit and stop; the changed ones start again on
        their new settings, from the committed offsets; connectors no longer used close."""
        diff = plan.changes
        old_connectors = self._connectors
        self._swap(plan)
        going = [*diff.subscriptions_removed, *diff.subscriptions_changed]
        await asyncio.gather(*(self._workers.drain(name) for name in going if name in self._workers))
        for name in diff.subscriptions_removed:
            self._deliveries.pop(name, None)
            self._metrics.forget(name)
        for name in diff.subscriptions_changed:
            self._deliveries[name] = plan.deliveries[name]
            try:
                await self._workers.start(plan.generation.subscriptions[name], plan.deliveries[name])
            except Exception:  # the transport is down: /readyz says "workers" until a reload or restart
                self._not_restarted.add(name)
                log.exception("the changed subscription %s did not start again", name)
        for name, connector in old_connectors.items():
            if plan.connectors.get(name) is not connector:
                with contextlib.suppress(Exception):
                    await connector.aclose()

    def _swap(self, plan: ReloadPlan) -> None:
        """The configuration of ``plan`` in force, in one step: synchronous, so that nothing runs
        between its assignments."""
        self._not_restarted.clear()  # a later reload starts them (as changed) or removes them
        self._evidence.reconfigure(plan.settings, plan.connectors, rebuilt=plan.started.keys())
        for name in plan.changes.subscriptions_added:
            self._deliveries[name] = plan.deliveries[name]
        self._settings = plan.settings
        self._registry = plan.registry
        self._connectors = plan.connectors
        self._inbound_checks = plan.inbound_checks
        self._router = plan.router
        self._bus.swap(plan.generation)

    async def readiness(self) -> dict[str, bool]:
        """What /readyz reports: the transport, the workers, the circuit of every critical
        subscription (``critical: true``), the audit store and the shared state store."""
        checks = await self._bus.ready()
        tasks = [w.task for w in self._workers.running()] + ([self._lag_task] if self._lag_task else [])
        checks["workers"] = (
            (self._workers.router is not None or self._routing_at_publish is not None)
            and not any(t.done() for t in tasks)
            and not self._not_restarted
        )
        checks["accepting"] = not self._stopping
        for subscription in self._settings.subscriptions:
            if subscription.critical:
                delivery = self._deliveries.get(subscription.name)
                closed = delivery is None or delivery.circuit_state != "open"
                checks[f"sink:{subscription.name}"] = closed
        try:
            checks["audit"] = bool(await self._audit.healthy())
        except Exception:  # a failing health check is a "no", never an error of /readyz
            log.warning("the audit store's health check failed", exc_info=True)
            checks["audit"] = False
        if self._state is not None:
            checks["state"] = await self._state.healthy()
        return checks

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        # Everything built so far (modules, schemas, configuration) lives as long as the process:
        # frozen, out of the collector's sight, it costs a full collection ~1 ms instead of ~70 ms
        # (several a second under load: bench.kafka_pipeline, py-spy).
        gc.collect()  # start-up's garbage first: frozen, it would never be freed
        gc.freeze()
        if self._reload_on_sighup:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._on_sighup)
        try:
            yield
        finally:
            if self._reload_on_sighup:
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
