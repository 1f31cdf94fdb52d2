"""Wiring: the settings turned into a running bus, started and stopped as one.

Start order: the log, the topics, the deliveries, the router; the HTTP API accepts requests once
the lifespan has started all of them. Stop order (SIGTERM, Ctrl-C): uvicorn stops accepting and
finishes requests in flight, then the consume loops finish the batch in hand within
``drain_timeout_s`` and commit (a delivery that would wait on a down sink gives its batch up at
once: see SubscriptionDelivery.drain); what is not committed by then is redelivered at the next
start, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry, disable_created_metrics

from adapters.audit import AuditMetrics, SqliteAuditLog, subject_key_source
from adapters.embedded.deadletters import EmbeddedDeadLetters
from adapters.embedded.log import EmbeddedLog
from adapters.http import create_app
from adapters.http.access_log import access_log_router
from adapters.http.admin import admin_router
from adapters.http.asyncapi import document as asyncapi_document
from adapters.http.asyncapi_route import asyncapi_router
from adapters.http.console import console_router
from adapters.http.console_figures import FigureSources
from adapters.http.sessions import console_secret
from adapters.http.stats import stats_router
from adapters.kafka import KafkaTransport
from adapters.metrics import PrometheusMetrics, render
from adapters.webhook import new_http_client, webhook_sink_factory
from connectors.portal.connector import PortalConnector
from lienthong.config import Settings, load_settings
from lienthong.connectors import Connector, ConnectorDeps, build_connectors, connector_sink
from lienthong.evidence import EvidenceWiring, providers_of
from lienthong.logs import LogFormat
from lienthong.logs import configure as configure_logs
from lienthong.reload import (
    Changes,
    ConfigInvalid,
    changes,
    contract_problems,
    digest,
    refuse,
    restart_problems,
)
from lienthong.tracing import tracer_of
from router.access_report import AccessReport
from router.audit import AuditUnavailable, admin_action
from router.bus import Bus, Generation
from router.consuming import ConsumeLoop
from router.delivery import SubscriptionDelivery
from router.directory import System
from router.envelope import CloudEvent
from router.errors import ConfigError, LienthongError, Unavailable
from router.ports import Consumer, StoredMessage, Transport
from router.publishing import INBOUND_TOPIC, EventChecks, Publisher
from router.routing import INBOUND_DEAD_LETTERS, InboundChecks, Router
from router.sinks import Sink
from router.subscriptions import Subscription
from router.traced import TracedSink
from schemas.registry import SchemaRegistry

log = logging.getLogger("lienthong")

ROUTER_GROUP = "router"
LAG_INTERVAL_S = 5.0
# who a reload by signal is recorded as, in the audit log (the signal names no one)
SIGNAL_REQUESTER = "SIGHUP"


@dataclass(frozen=True, slots=True)
class Worker:
    """A running consume loop: its delivery (None for the router), consumer and task."""

    loop: ConsumeLoop
    consumer: Consumer
    task: asyncio.Task[None]
    delivery: SubscriptionDelivery | None = None


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """A new configuration, checked and built, not yet in force."""

    settings: Settings
    registry: SchemaRegistry
    digest: str
    changes: Changes
    connectors: dict[str, Connector]  # every connector of the new configuration
    started: dict[str, Connector]  # those built for it (added or changed): started by the reload
    deliveries: dict[str, SubscriptionDelivery]  # of the added and changed subscriptions
    router: Router
    inbound_checks: InboundChecks | None
    generation: Generation


class _CurrentPublisher:
    """The evidence collector publishes under the bus's configuration of the moment."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def publish(self, system_id: str, events: Sequence[CloudEvent], batch: bool) -> object:
        return await self._bus.publish_as(system_id, events, batch)


class _LivePortals(Sequence[PortalConnector]):
    """The portal connectors of the running configuration, for GET /v1/stats."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def __len__(self) -> int:
        return len(self._runtime.portals())

    def __getitem__(self, index: int) -> PortalConnector:  # type: ignore[override]
        return self._runtime.portals()[index]


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
        self.audit = SqliteAuditLog(
            settings.audit.path,
            subject_key_source(settings.audit.path, settings.audit.subject_key_env),
            metrics=AuditMetrics(self.metrics_registry),
        )
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
        self._make_webhook = webhook_sink_factory(self.http_client)
        self.publisher = Publisher(
            self.registry, settings.policy, self.transport, self.metrics, tracer=self.tracer
        )
        # the running deliveries by subscription; the Bus reads this very dict
        self.deliveries: dict[str, SubscriptionDelivery] = {}
        self.bus = Bus(
            settings.directory,
            settings.policy,
            self.registry,
            self.publisher,
            self.transport,
            self.dead_letters,
            settings.subscriptions,
            self.deliveries,
            audit=self.audit,
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
        self.deliveries.update({s.name: self._delivery(s, self.connectors) for s in settings.subscriptions})
        self.inbound_checks = self._inbound_checks(settings, registry)
        self.router = Router(
            settings.subscriptions, settings.policy, self.transport, self.metrics, self.inbound_checks
        )
        self.workers: dict[str, Worker] = {}  # the subscriptions' consume loops, by name
        self._router_worker: Worker | None = None
        self._lag_task: asyncio.Task[None] | None = None
        self.stopping = False  # set when the shutdown starts: /readyz says so at once
        self._reload_lock = asyncio.Lock()  # reloads run one at a time, and not during a shutdown
        self.reload_on_sighup = False  # set by serve(): SIGHUP reloads the configuration
        self._signal_reloads: set[asyncio.Task[None]] = set()
        # changed subscriptions whose loop could not start again after a reload (readiness)
        self.not_restarted: set[str] = set()

    def _inbound_checks(self, settings: Settings, registry: SchemaRegistry) -> InboundChecks | None:
        # On Kafka agencies may produce straight into the inbound topic, so the router checks every
        # inbound message; on the embedded log only the HTTP API (which checked) writes it.
        if settings.transport.kafka is None:
            return None
        return InboundChecks(settings.directory, EventChecks(registry, settings.policy))

    def _delivery(
        self, subscription: Subscription, connectors: Mapping[str, Connector]
    ) -> SubscriptionDelivery:
        sink: Sink
        if subscription.sink.kind == "evidence":
            sink = self.evidence.collector(subscription)
        elif subscription.sink.kind == "connector":
            sink = connector_sink(dict(connectors), subscription.sink)
        else:
            sink = self._make_webhook(subscription.sink)
        if self.tracer is not None:
            sink = TracedSink(sink, self.tracer, subscription.name)
        return SubscriptionDelivery(subscription, sink, self.dead_letters, self.metrics)

    async def _route(self, batches: Mapping[int, Sequence[StoredMessage]]) -> None:
        # the router of the moment, read once per batch: a batch is routed under one configuration
        await self.router.handle(batches)

    async def _start_worker(self, subscription: Subscription, delivery: SubscriptionDelivery) -> None:
        await delivery.start()
        consumer = self.transport.consumer(subscription.group, subscription.topic)
        await consumer.start()
        loop = ConsumeLoop(f"deliver {subscription.name}", consumer, delivery.handle)
        task = asyncio.create_task(loop.run(), name=loop.name)
        self.workers[subscription.name] = Worker(loop, consumer, task, delivery)

    async def _drain_worker(self, name: str) -> None:
        """Stops one subscription's loop as a shutdown would: the batch in hand is finished and
        committed (within the drain timeout; what is cut short is delivered again by the next
        loop of the group), then its consumer leaves the group and its sink is closed."""
        worker = self.workers.pop(name)
        worker.loop.stop()
        assert worker.delivery is not None
        worker.delivery.drain()
        _, pending = await asyncio.wait([worker.task], timeout=self.drain_timeout_s)
        worker.delivery.stop()
        for task in pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker.task
        with contextlib.suppress(Exception):
            await worker.consumer.close()
        await worker.delivery.close()

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
            await self._start_worker(subscription, self.deliveries[subscription.name])
        consumer = self.transport.consumer(ROUTER_GROUP, INBOUND_TOPIC)
        await consumer.start()
        loop = ConsumeLoop("router", consumer, self._route)
        self._router_worker = Worker(loop, consumer, asyncio.create_task(loop.run(), name=loop.name))
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

    def _running(self) -> list[Worker]:
        return [*self.workers.values(), *([self._router_worker] if self._router_worker else [])]

    async def stop(self) -> None:
        self.stopping = True
        async with self._reload_lock:  # a reload in progress finishes first
            await self._stop()

    async def _stop(self) -> None:
        workers = self._running()
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

    # --- reload ----------------------------------------------------------------------------------

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
            source = self.settings.source
            try:
                plan = await self._plan(source)
            except ConfigInvalid as refused:
                first = (
                    refused.problems[0].get("text") or refused.problems[0]["detail"]
                    if refused.problems
                    else ""
                )
                detail = f"{len(refused.problems)} problem(s); first: {first}"[:1000]
                await self._audit_reload(requester, official, "refused", detail)
                log.warning("configuration reload refused (%s):\n%s", requester, refused.detail)
                raise
            try:
                # audited before anything is done: no record, no reload
                detail = f"sha256 {plan.digest}: {plan.changes.summary()}"[:2000]
                await self._audit_reload(requester, official, "accepted", detail, required=True)
                await self._prepare(plan)
                await self._start_added(plan)
            except Exception as error:
                for connector in plan.started.values():
                    with contextlib.suppress(Exception):
                        await connector.aclose()
                for delivery in plan.deliveries.values():
                    await delivery.close()
                if not isinstance(error, AuditUnavailable):
                    await self._audit_reload(requester, official, "failed", str(error)[:500])
                log.error("configuration reload failed (%s): %s", requester, error)
                if isinstance(error, LienthongError):
                    raise
                raise Unavailable(f"the reload failed, nothing changed: {error}") from error
            await self._apply(plan)
            log.info(
                "configuration reloaded (%s, generation %d, sha256 %s): %s",
                requester,
                plan.generation.number,
                plan.digest,
                plan.changes.summary(),
            )
            return plan.changes

    async def _audit_reload(
        self, requester: str, official: str, outcome: str, detail: str, *, required: bool = False
    ) -> None:
        record = admin_action(uuid.uuid4().hex, requester, official, "reload", outcome, detail)
        try:
            await self.audit.record([record])
        except AuditUnavailable:
            if required:
                raise
            log.warning("the %s reload could not be audited", outcome, exc_info=True)

    async def _plan(self, source: Path) -> ReloadPlan:
        """The new configuration checked and built, without touching the running one."""
        try:
            file_digest = await asyncio.to_thread(digest, source)
            settings, registry = await asyncio.to_thread(load, source)
        except ConfigError as error:
            raise ConfigInvalid.of(error) from None
        except OSError as error:
            raise ConfigInvalid.of(ConfigError(f"{source}: cannot read the file: {error}")) from None
        located = restart_problems(self.settings, settings)
        contracts = contract_problems(self.registry, registry)
        if located or contracts:
            raise refuse(source, located, contracts)
        diff = changes(self.settings, settings, self.registry, registry)
        if self.not_restarted:  # started again by this reload if they are still configured
            kept = self.not_restarted & {s.name for s in settings.subscriptions}
            diff = replace(diff, subscriptions_changed=tuple(sorted({*diff.subscriptions_changed, *kept})))
        rebuilt = set(diff.connectors_added) | set(diff.connectors_changed)
        started: dict[str, Connector] = {}
        deliveries: dict[str, SubscriptionDelivery] = {}
        try:
            started = build_connectors(
                replace(settings, connectors=tuple(c for c in settings.connectors if c.name in rebuilt)),
                self.connector_deps,
            )
            connectors = {
                c.name: started[c.name] if c.name in rebuilt else self.connectors[c.name]
                for c in settings.connectors
            }
            providers_of(settings, connectors, self.tracer)
            for subscription in settings.subscriptions:
                if (
                    subscription.name in diff.subscriptions_added
                    or subscription.name in diff.subscriptions_changed
                ):
                    deliveries[subscription.name] = self._delivery(subscription, connectors)
        except ConfigError as error:
            for delivery in deliveries.values():
                await delivery.close()
            for connector in started.values():
                with contextlib.suppress(Exception):
                    await connector.aclose()
            raise ConfigInvalid.of(error) from None
        inbound_checks = self._inbound_checks(settings, registry)
        old = self.bus.generation
        return ReloadPlan(
            settings=settings,
            registry=registry,
            digest=file_digest,
            changes=diff,
            connectors=connectors,
            started=started,
            deliveries=deliveries,
            router=Router(
                settings.subscriptions, settings.policy, self.transport, self.metrics, inbound_checks
            ),
            inbound_checks=inbound_checks,
            generation=Generation(
                settings.directory,
                settings.policy,
                registry,
                Publisher(registry, settings.policy, self.transport, self.metrics, tracer=self.tracer),
                {s.name: s for s in settings.subscriptions},
                old.number + 1,
            ),
        )

    async def _prepare(self, plan: ReloadPlan) -> None:
        """What may fail on I/O before anything is in force: new connectors start (log in, open
        files), the added subscriptions' queues are created."""
        for name, connector in plan.started.items():
            try:
                await connector.start()
            except Exception as error:
                raise Unavailable(f"connector {name!r} did not start: {error}") from error
        for name in plan.changes.subscriptions_added:
            topic = plan.generation.subscriptions[name].topic
            await self.transport.create_topic(topic, self.settings.transport.partitions)

    async def _start_added(self, plan: ReloadPlan) -> None:
        """The added subscriptions' loops, idle until events are routed to them; all or none."""
        try:
            for name in plan.changes.subscriptions_added:
                await self._start_worker(plan.generation.subscriptions[name], plan.deliveries[name])
        except Exception:
            for name in plan.changes.subscriptions_added:
                if name in self.workers:
                    await self._drain_worker(name)
            raise
        for name in plan.changes.subscriptions_added:
            self.deliveries[name] = plan.deliveries[name]

    async def _apply(self, plan: ReloadPlan) -> None:
        """Puts a checked plan in force, its added subscriptions' loops already running: the new
        configuration replaces the old in one step (no await in between: no request, no batch
        sees half of each); then the loops of removed and changed subscriptions drain their batch
        in hand, commit and stop; the changed ones start again on their new settings, from the
        committed offsets; connectors no longer used close."""
        diff = plan.changes
        self.not_restarted.clear()  # a later reload starts them (as changed) or removes them
        old_connectors = self.connectors
        # --- the swap ---
        self.evidence.reconfigure(plan.settings, plan.connectors, rebuilt=plan.started.keys())
        self.settings = plan.settings
        self.registry = plan.registry
        self.connectors = plan.connectors
        self.inbound_checks = plan.inbound_checks
        self.router = plan.router
        self.publisher = plan.generation.publisher
        self.bus.swap(plan.generation)
        # --- the loops of the old configuration ---
        going = [*diff.subscriptions_removed, *diff.subscriptions_changed]
        await asyncio.gather(*(self._drain_worker(name) for name in going if name in self.workers))
        for name in diff.subscriptions_removed:
            self.deliveries.pop(name, None)
            self.metrics.forget(name)
        for name in diff.subscriptions_changed:
            self.deliveries[name] = plan.deliveries[name]
            try:
                await self._start_worker(plan.generation.subscriptions[name], plan.deliveries[name])
            except Exception:  # the transport is down: /readyz says "workers" until a reload or restart
                self.not_restarted.add(name)
                log.exception("the changed subscription %s did not start again", name)
        for name, connector in old_connectors.items():
            if plan.connectors.get(name) is not connector:
                with contextlib.suppress(Exception):
                    await connector.aclose()

    async def readiness(self) -> dict[str, bool]:
        """What /readyz reports: the transport, the workers, the circuit of every critical
        subscription (``critical: true``), and the audit store when there is one."""
        checks = await self.bus.ready()
        tasks = [w.task for w in self._running()] + ([self._lag_task] if self._lag_task else [])
        checks["workers"] = (
            self._router_worker is not None and not any(t.done() for t in tasks) and not self.not_restarted
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

    def asyncapi(self, caller: System | None, bus_url: str) -> dict[str, Any]:
        """The AsyncAPI document: every type, and the subscriptions ``caller`` may see (all of
        them for ``None``: the operator holding the configuration file)."""
        subscriptions = (
            self.settings.subscriptions if caller is None else self.bus.visible_subscriptions(caller)
        )
        return asyncapi_document(self.registry, subscriptions, bus_url=bus_url, policy=self.settings.policy)

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

    def admin_router(self) -> APIRouter:
        return admin_router(self._reload_by_api, self.bus.is_admin)

    async def _reload_by_api(self, caller: System, official: str) -> dict[str, Any]:
        found = await self.reload(caller.id, official)
        return {"generation": self.bus.generation.number, "changed": not found.nothing, **found.as_dict()}

    def app(self) -> FastAPI:
        return create_app(
            self.bus,
            max_body_bytes=self.settings.http.max_body_bytes,
            max_batch_events=self.settings.http.max_batch_events,
            readiness=self.readiness,
            metrics=lambda: render(self.metrics_registry),
            lifespan=self.lifespan,
            routers=[
                asyncapi_router(self.asyncapi),
                access_log_router(lambda: AccessReport(self.audit, self.bus.directory, self.bus.policy)),
                self.console(),
                self.evidence.router(),
                self.admin_router(),
                stats_router(_LivePortals(self), self.bus.is_admin),
            ],
        )

    def portals(self) -> list[PortalConnector]:
        """The portal connectors: their figures go to GET /v1/stats and the console."""
        return [c for c in self.connectors.values() if isinstance(c, PortalConnector)]

    async def _portal_rows(self) -> list[dict[str, str | int | float | None]]:
        portals = self.portals()  # those of the running configuration
        return await portals[0].console_rows() if portals else []

    def console(self) -> APIRouter:
        """The operator console (/console); its portal and evidence sections show "not
        configured" until given their status sources (FigureSources portal=, evidence=)."""
        portals = self.portals()
        figures = FigureSources(
            self.bus,
            self.metrics_registry,
            audit=lambda: getattr(self, "audit", None),
            portal=self._portal_rows if portals else None,
        )
        return console_router(self.bus, figures, console_secret())


def load(config: Path) -> tuple[Settings, SchemaRegistry]:
    """The settings of a file and the contracts they name, checked against each other: a
    subscription or policy naming an unregistered type is an error with its line number."""
    settings = load_settings(config)
    registry = SchemaRegistry.load(settings.schemas.path, settings.schemas.compatibility)
    return load_settings(config, {info.name for info in registry.types()}), registry


def serve(
    config: Path, *, host: str | None = None, port: int | None = None, log_format: LogFormat | None = None
) -> None:
    """Runs the bus under uvicorn until SIGTERM or Ctrl-C; logs in ``log_format`` (lienthong.logs)."""
    settings, registry = load(config)
    configure_logs(log_format)
    # prometheus_client's *_created series (a creation time beside each counter and histogram)
    # double what Prometheus stores; no rule or dashboard reads them
    disable_created_metrics()  # type: ignore[no-untyped-call]
    runtime = Runtime(settings, registry)
    runtime.reload_on_sighup = True
    server = uvicorn.Config(
        runtime.app(),
        host=host or settings.http.host,
        port=settings.http.port if port is None else port,
        loop="uvloop",
        lifespan="on",
        access_log=False,
        log_config=None,  # lienthong.logs configured the handlers: uvicorn's lines in the same format
        timeout_graceful_shutdown=30,
        # Clients keep connections in their pools longer than uvicorn's 5 s default; closing an idle
        # one just as a client reuses it makes that request fail with a read error.
        timeout_keep_alive=75,
    )
    # uvicorn handles SIGTERM itself (the graceful shutdown), then puts back the handler it found
    # and raises the signal again, so that the process dies of it (exit status -15). A bus that
    # drained and committed has finished its work: the handler it finds makes that an exit 0.
    signal.signal(signal.SIGTERM, _exit_after_shutdown)
    # SIGHUP reloads once the bus has started (Runtime.lifespan); before that it must not kill it
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    uvicorn.Server(server).run()


def _exit_after_shutdown(signum: int, frame: object) -> None:
    raise SystemExit(0)
