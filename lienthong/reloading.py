"""A configuration reload carried out on the running bus: the new file read, checked and built
into a :class:`ReloadPlan` without touching the running configuration, audited, prepared (new
connectors started, added queues created), then put in force in one step. What a reload may
change and what changed are :mod:`lienthong.reload`'s; the lock that runs reloads one at a time
and keeps them out of a shutdown is the runtime's (:meth:`lienthong.runtime.Runtime.reload`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.base import Connector
from lienthong.config import Settings
from lienthong.connectors import build_connectors
from lienthong.evidence import providers_of
from lienthong.inbound_checks import inbound_checks_of
from lienthong.loading import load
from lienthong.reload import (
    Changes,
    ConfigInvalid,
    changes,
    contract_problems,
    digest,
    refuse,
    restart_problems,
)
from router.audit import AuditUnavailable, admin_action
from router.bus import Generation
from router.delivery import SubscriptionDelivery
from router.errors import ConfigError, LienthongError, Unavailable
from router.publishing import Publisher
from router.routing import InboundChecks, Router
from schemas.registry import SchemaRegistry

if TYPE_CHECKING:  # the runtime imports this module
    from lienthong.runtime import Runtime

log = logging.getLogger("lienthong")


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


async def reload_configuration(runtime: Runtime, requester: str, official: str) -> Changes:
    """Reads ``runtime``'s configuration file again and puts it in force, or refuses it whole
    (see Runtime.reload, which calls this holding the reload lock)."""
    source = runtime.settings.source
    try:
        plan = await _plan(runtime, source)
    except ConfigInvalid as refused:
        first = refused.problems[0].get("text") or refused.problems[0]["detail"] if refused.problems else ""
        detail = f"{len(refused.problems)} problem(s); first: {first}"[:1000]
        await _audit_reload(runtime, requester, official, "refused", detail)
        log.warning("configuration reload refused (%s):\n%s", requester, refused.detail)
        raise
    try:
        # audited before anything is done: no record, no reload
        detail = f"sha256 {plan.digest}: {plan.changes.summary()}"[:2000]
        await _audit_reload(runtime, requester, official, "accepted", detail, required=True)
        await _prepare(runtime, plan)
        await _start_added(runtime, plan)
    except Exception as error:
        for connector in plan.started.values():
            with contextlib.suppress(Exception):
                await connector.aclose()
        for delivery in plan.deliveries.values():
            await delivery.close()
        if not isinstance(error, AuditUnavailable):
            await _audit_reload(runtime, requester, official, "failed", str(error)[:500])
        log.error("configuration reload failed (%s): %s", requester, error)
        if isinstance(error, LienthongError):
            raise
        raise Unavailable(f"the reload failed, nothing changed: {error}") from error
    await _apply(runtime, plan)
    log.info(
        "configuration reloaded (%s, generation %d, sha256 %s): %s",
        requester,
        plan.generation.number,
        plan.digest,
        plan.changes.summary(),
    )
    return plan.changes


async def _audit_reload(
    runtime: Runtime, requester: str, official: str, outcome: str, detail: str, *, required: bool = False
) -> None:
    record = admin_action(uuid.uuid4().hex, requester, official, "reload", outcome, detail)
    try:
        await runtime.audit.record([record])
    except AuditUnavailable:
        if required:
            raise
        log.warning("the %s reload could not be audited", outcome, exc_info=True)


async def _plan(runtime: Runtime, source: Path) -> ReloadPlan:
    """The new configuration checked and built, without touching the running one."""
    try:
        file_digest = await asyncio.to_thread(digest, source)
        settings, registry = await asyncio.to_thread(load, source)
    except ConfigError as error:
        raise ConfigInvalid.of(error) from None
    except OSError as error:
        raise ConfigInvalid.of(ConfigError(f"{source}: cannot read the file: {error}")) from None
    located = restart_problems(runtime.settings, settings)
    contracts = contract_problems(runtime.registry, registry)
    if located or contracts:
        raise refuse(source, located, contracts)
    diff = changes(runtime.settings, settings, runtime.registry, registry)
    if runtime.not_restarted:  # started again by this reload if they are still configured
        kept = runtime.not_restarted & {s.name for s in settings.subscriptions}
        diff = replace(diff, subscriptions_changed=tuple(sorted({*diff.subscriptions_changed, *kept})))
    rebuilt = set(diff.connectors_added) | set(diff.connectors_changed)
    started: dict[str, Connector] = {}
    deliveries: dict[str, SubscriptionDelivery] = {}
    try:
        started = build_connectors(
            replace(settings, connectors=tuple(c for c in settings.connectors if c.name in rebuilt)),
            runtime.connector_deps,
        )
        connectors = {
            c.name: started[c.name] if c.name in rebuilt else runtime.connectors[c.name]
            for c in settings.connectors
        }
        providers_of(settings, connectors, runtime.tracer)
        for subscription in settings.subscriptions:
            if (
                subscription.name in diff.subscriptions_added
                or subscription.name in diff.subscriptions_changed
            ):
                deliveries[subscription.name] = runtime.delivery_builder.build(subscription, connectors)
    except ConfigError as error:
        for delivery in deliveries.values():
            await delivery.close()
        for connector in started.values():
            with contextlib.suppress(Exception):
                await connector.aclose()
        raise ConfigInvalid.of(error) from None
    inbound_checks = inbound_checks_of(settings, registry)
    old = runtime.bus.generation
    return ReloadPlan(
        settings=settings,
        registry=registry,
        digest=file_digest,
        changes=diff,
        connectors=connectors,
        started=started,
        deliveries=deliveries,
        router=Router(
            settings.subscriptions, settings.policy, runtime.transport, runtime.metrics, inbound_checks
        ),
        inbound_checks=inbound_checks,
        generation=Generation(
            settings.directory,
            settings.policy,
            registry,
            Publisher(registry, settings.policy, runtime.transport, runtime.metrics, tracer=runtime.tracer),
            {s.name: s for s in settings.subscriptions},
            old.number + 1,
        ),
    )


async def _prepare(runtime: Runtime, plan: ReloadPlan) -> None:
    """What may fail on I/O before anything is in force: new connectors start (log in, open
    files), the added subscriptions' queues are created."""
    for name, connector in plan.started.items():
        try:
            await connector.start()
        except Exception as error:
            raise Unavailable(f"connector {name!r} did not start: {error}") from error
    for name in plan.changes.subscriptions_added:
        topic = plan.generation.subscriptions[name].topic
        await runtime.transport.create_topic(topic, runtime.settings.transport.partitions)


async def _start_added(runtime: Runtime, plan: ReloadPlan) -> None:
    """The added subscriptions' loops, idle until events are routed to them; all or none."""
    try:
        for name in plan.changes.subscriptions_added:
            await runtime.workers.start(plan.generation.subscriptions[name], plan.deliveries[name])
    except Exception:
        for name in plan.changes.subscriptions_added:
            if name in runtime.workers:
                await runtime.workers.drain(name)
        raise
    for name in plan.changes.subscriptions_added:
        runtime.deliveries[name] = plan.deliveries[name]


async def _apply(runtime: Runtime, plan: ReloadPlan) -> None:
    """Puts a checked plan in force, its added subscriptions' loops already running: the new
    configuration replaces the old in one step (no await in between: no request, no batch
    sees half of each); then the loops of removed and changed subscriptions drain their batch
    in hand, commit and stop; the changed ones start again on their new settings, from the
    committed offsets; connectors no longer used close."""
    diff = plan.changes
    runtime.not_restarted.clear()  # a later reload starts them (as changed) or removes them
    old_connectors = runtime.connectors
    # --- the swap ---
    runtime.evidence.reconfigure(plan.settings, plan.connectors, rebuilt=plan.started.keys())
    runtime.settings = plan.settings
    runtime.registry = plan.registry
    runtime.connectors = plan.connectors
    runtime.inbound_checks = plan.inbound_checks
    runtime.router = plan.router
    runtime.bus.swap(plan.generation)
    # --- the loops of the old configuration ---
    going = [*diff.subscriptions_removed, *diff.subscriptions_changed]
    await asyncio.gather(*(runtime.workers.drain(name) for name in going if name in runtime.workers))
    for name in diff.subscriptions_removed:
        runtime.deliveries.pop(name, None)
        runtime.metrics.forget(name)
    for name in diff.subscriptions_changed:
        runtime.deliveries[name] = plan.deliveries[name]
        try:
            await runtime.workers.start(plan.generation.subscriptions[name], plan.deliveries[name])
        except Exception:  # the transport is down: /readyz says "workers" until a reload or restart
            runtime.not_restarted.add(name)
            log.exception("the changed subscription %s did not start again", name)
    for name, connector in old_connectors.items():
        if plan.connectors.get(name) is not connector:
            with contextlib.suppress(Exception):
                await connector.aclose()
