"""A configuration reload carried out on the running bus: the new file read, checked and built
into a :class:`ReloadPlan` without touching the running configuration, audited, prepared (new
connectors started, added queues created), then handed to the bus, which puts it in force in one
step (:meth:`Reloadable.apply`). What a reload may change and what changed are
:mod:`lienthong.reload_rules`'s; the lock that runs reloads one at a time and keeps them out of a
shutdown is the runtime's (:meth:`lienthong.runtime.Runtime.reload`). This module sees the running
bus only through :class:`Reloadable`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from connectors.base import Connector, ConnectorDeps
from lienthong.config import Settings
from lienthong.connectors import build_connectors
from lienthong.deliveries import DeliveryBuilder
from lienthong.evidence import providers_of
from lienthong.inbound_checks import inbound_checks_of
from lienthong.loading import load
from lienthong.reload_rules import (
    Changes,
    ConfigInvalid,
    changes,
    contract_problems,
    digest,
    refuse,
    restart_problems,
)
from lienthong.workers import routing_at_publish
from router.audit import AuditLog, AuditUnavailable, admin_action
from router.bus import Generation
from router.delivery import SubscriptionDelivery
from router.errors import ConfigError, LienthongError, Unavailable
from router.metrics import Metrics
from router.ports import Transport
from router.publishing import Publisher
from router.routing import InboundChecks, Router
from router.tracing import Tracer
from schemas.registry import SchemaRegistry

log = logging.getLogger("lienthong")


@dataclass(frozen=True, slots=True)
class ReloadParts:
    """The parts of the running bus a plan is built on and prepared with, fixed for its life."""

    connector_deps: ConnectorDeps
    delivery_builder: DeliveryBuilder
    transport: Transport
    metrics: Metrics
    tracer: Tracer | None
    audit: AuditLog


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """A new configuration, checked and built, not yet in force."""

    settings: Settings
    registry: SchemaRegistry
    digest: str
    changes: Changes
    connectors: Mapping[str, Connector]  # every connector of the new configuration
    started: Mapping[str, Connector]  # those built for it (added or changed): started by the reload
    deliveries: Mapping[str, SubscriptionDelivery]  # of the added and changed subscriptions
    router: Router
    inbound_checks: InboundChecks | None
    generation: Generation


class Reloadable(Protocol):
    """What a reload sees of the running bus: its configuration of the moment, the parts a plan
    is built on, and the two steps that put a plan in force."""

    @property
    def settings(self) -> Settings: ...

    @property
    def registry(self) -> SchemaRegistry: ...

    @property
    def connectors(self) -> Mapping[str, Connector]: ...

    @property
    def generation(self) -> Generation: ...

    @property
    def not_restarted(self) -> Set[str]:
        """Changed subscriptions whose loop did not start again after the last reload."""
        ...

    @property
    def reload_parts(self) -> ReloadParts: ...

    async def start_added(self, plan: ReloadPlan) -> None:
        """Starts the loops of the plan's added subscriptions, all or none; nothing is in force."""
        ...

    async def apply(self, plan: ReloadPlan) -> None:
        """Puts the plan in force in one step, then retires what the old configuration ran."""
        ...


async def reload_configuration(running: Reloadable, requester: str, official: str) -> Changes:
    """Reads ``running``'s configuration file again and puts it in force, or refuses it whole
    (see Runtime.reload, which calls this holding the reload lock)."""
    source = running.settings.source
    audit = running.reload_parts.audit
    try:
        plan = await _plan(running, source)
    except ConfigInvalid as refused:
        first = refused.problems[0].get("text") or refused.problems[0]["detail"] if refused.problems else ""
        detail = f"{len(refused.problems)} problem(s); first: {first}"[:1000]
        await _audit_reload(audit, requester, official, "refused", detail)
        log.warning("configuration reload refused (%s):\n%s", requester, refused.detail)
        raise
    try:
        # audited before anything is done: no record, no reload
        detail = f"sha256 {plan.digest}: {plan.changes.summary()}"[:2000]
        await _audit_reload(audit, requester, official, "accepted", detail, required=True)
        await _prepare(running, plan)
        await running.start_added(plan)
    except Exception as error:
        for connector in plan.started.values():
            with contextlib.suppress(Exception):
                await connector.aclose()
        for delivery in plan.deliveries.values():
            await delivery.close()
        if not isinstance(error, AuditUnavailable):
            await _audit_reload(audit, requester, official, "failed", str(error)[:500])
        log.error("configuration reload failed (%s): %s", requester, error)
        if isinstance(error, LienthongError):
            raise
        raise Unavailable(f"the reload failed, nothing changed: {error}") from error
    await running.apply(plan)
    log.info(
        "configuration reloaded (%s, generation %d, sha256 %s): %s",
        requester,
        plan.generation.number,
        plan.digest,
        plan.changes.summary(),
    )
    return plan.changes


async def _audit_reload(
    audit: AuditLog, requester: str, official: str, outcome: str, detail: str, *, required: bool = False
) -> None:
    record = admin_action(uuid.uuid4().hex, requester, official, "reload", outcome, detail)
    try:
        await audit.record([record])
    except AuditUnavailable:
        if required:
            raise
        log.warning("the %s reload could not be audited", outcome, exc_info=True)


async def _plan(running: Reloadable, source: Path) -> ReloadPlan:
    """The new configuration checked and built, without touching the running one."""
    try:
        file_digest = await asyncio.to_thread(digest, source)
        settings, registry = await asyncio.to_thread(load, source)
    except ConfigError as error:
        raise ConfigInvalid.of(error) from None
    except OSError as error:
        raise ConfigInvalid.of(ConfigError(f"{source}: cannot read the file: {error}")) from None
    located = restart_problems(running.settings, settings)
    contracts = contract_problems(running.registry, registry)
    if located or contracts:
        raise refuse(source, located, contracts)
    diff = changes(running.settings, settings, running.registry, registry)
    if running.not_restarted:  # started again by this reload if they are still configured
        kept = running.not_restarted & {s.name for s in settings.subscriptions}
        diff = replace(diff, subscriptions_changed=tuple(sorted({*diff.subscriptions_changed, *kept})))
    parts = running.reload_parts
    rebuilt = set(diff.connectors_added) | set(diff.connectors_changed)
    started: dict[str, Connector] = {}
    deliveries: dict[str, SubscriptionDelivery] = {}
    try:
        started = build_connectors(
            replace(settings, connectors=tuple(c for c in settings.connectors if c.name in rebuilt)),
            parts.connector_deps,
        )
        connectors = {
            c.name: started[c.name] if c.name in rebuilt else running.connectors[c.name]
            for c in settings.connectors
        }
        providers_of(settings, connectors, parts.tracer)
        for subscription in settings.subscriptions:
            if (
                subscription.name in diff.subscriptions_added
                or subscription.name in diff.subscriptions_changed
            ):
                deliveries[subscription.name] = parts.delivery_builder.build(subscription, connectors)
    except ConfigError as error:
        for delivery in deliveries.values():
            await delivery.close()
        for connector in started.values():
            with contextlib.suppress(Exception):
                await connector.aclose()
        raise ConfigInvalid.of(error) from None
    inbound_checks = inbound_checks_of(settings, registry)
    router = Router(
        settings.subscriptions,
        settings.policy,
        parts.transport,
        parts.metrics,
        inbound_checks,
        released_types=registry.released_types(),
    )
    publisher = Publisher(
        registry,
        settings.policy,
        parts.transport,
        parts.metrics,
        tracer=parts.tracer,
        routing=routing_at_publish(parts.transport, router),
    )
    return ReloadPlan(
        settings=settings,
        registry=registry,
        digest=file_digest,
        changes=diff,
        connectors=connectors,
        started=started,
        deliveries=deliveries,
        router=router,
        inbound_checks=inbound_checks,
        generation=Generation(
            settings.directory,
            settings.policy,
            registry,
            publisher,
            {s.name: s for s in settings.subscriptions},
            running.generation.number + 1,
        ),
    )


async def _prepare(running: Reloadable, plan: ReloadPlan) -> None:
    """What may fail on I/O before anything is in force: new connectors start (log in, open
    files), the added subscriptions' queues are created."""
    for name, connector in plan.started.items():
        try:
            await connector.start()
        except Exception as error:
            raise Unavailable(f"connector {name!r} did not start: {error}") from error
    for name in plan.changes.subscriptions_added:
        topic = plan.generation.subscriptions[name].topic
        await running.reload_parts.transport.create_topic(topic, running.settings.transport.partitions)
