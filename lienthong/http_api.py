"""The HTTP API of a running bus: the FastAPI app and every router of it (adapters/http/routes/,
the console), each given what it needs from the runtime and reading the configuration of the
moment, so that a reload reaches them. One exception: whether the console has a portal section,
and an evidence providers section, is decided when the app is built (a portal connector, or the
first data provider, added by a reload shows there after a restart)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI

from adapters.evidence_figures import provider_rows
from adapters.http import create_app
from adapters.http.asyncapi import document as asyncapi_document
from adapters.http.console.figures import FigureSources
from adapters.http.console.routes import console_router
from adapters.http.console.sessions import console_secret
from adapters.http.evidence_doc import evidence_document
from adapters.http.officials import Verifier
from adapters.http.rate_limit import document_rate_limits
from adapters.http.routes.access_log import access_log_router
from adapters.http.routes.admin import admin_router
from adapters.http.routes.asyncapi import asyncapi_router
from adapters.http.routes.dead_letters import dead_letters_router
from adapters.http.routes.events import events_router
from adapters.http.routes.health import health_router
from adapters.http.routes.metrics import metrics_router
from adapters.http.routes.portal import portal_router
from adapters.http.routes.portal_catalogue import portal_catalogue_router
from adapters.http.routes.problem_codes import problem_codes_router
from adapters.http.routes.stats import stats_router
from adapters.http.routes.subscriptions import subscriptions_router
from adapters.http.routes.types import types_router
from adapters.metrics import render
from adapters.official_tokens import OfficialTokenVerifier
from connectors.portal.connector import PortalConnector
from lienthong.caller_limits import add_caller_limits, refused_reads
from lienthong.portal_ops import RELEASE_ERRORS, PortalOperations
from lienthong.reload_rules import ConfigInvalid
from lienthong.runtime import Runtime
from router.access_report import AccessReport
from router.directory import System

PORTAL_MOVES_SHOWN = 20


def http_app(runtime: Runtime) -> FastAPI:
    """The API of ``runtime``, which its lifespan starts and stops."""
    app = create_app(
        runtime.bus,
        routers=routers(runtime),
        max_body_bytes=runtime.settings.http.max_body_bytes,
        max_headers=runtime.settings.http.max_headers,
        lifespan=runtime.lifespan,
        # the evidence query's body follows the catalogue in force, which a reload may change
        document_parts=[evidence_document(lambda: runtime.evidence.service.catalogue), document_rate_limits],
        document_version=lambda: runtime.bus.generation.number,
    )
    add_caller_limits(app, runtime)
    return app


def routers(runtime: Runtime) -> list[APIRouter]:
    """Every route of the API, in the order the OpenAPI document lists them."""
    bus = runtime.bus
    _portals(runtime)  # gives the portal connectors the configuration before they start
    officials = _officials(runtime)
    refusals = refused_reads(runtime)
    return [
        events_router(
            bus,
            runtime.metrics,
            max_body_bytes=runtime.settings.http.max_body_bytes,
            max_batch_events=runtime.settings.http.max_batch_events,
        ),
        types_router(bus),
        subscriptions_router(bus),
        dead_letters_router(bus),
        health_router(runtime.readiness),
        metrics_router(
            lambda: render(runtime.metrics_registry),
            documented=runtime.settings.http.metrics_listen is None,
        ),
        problem_codes_router(),
        _asyncapi(runtime),
        access_log_router(
            lambda: AccessReport(runtime.audit, bus.directory, bus.policy, refusals), officials
        ),
        _console(runtime),
        runtime.evidence.router(officials),
        _admin(runtime),
        stats_router(_LivePortals(runtime), bus.is_admin),
        portal_router(PortalOperations(runtime), officials, bus.is_admin, RELEASE_ERRORS),
        portal_catalogue_router(_LivePortals(runtime)),
    ]


def _officials(runtime: Runtime) -> Verifier:
    """The verifier of officials' tokens under the trusted issuers in force: one while they stay
    (it remembers the tokens it accepted), a new one after a reload that changes them."""
    current: list[OfficialTokenVerifier] = []

    def verifier() -> OfficialTokenVerifier:
        settings = runtime.settings.officials
        if not current or current[0].settings is not settings:
            current[:] = [OfficialTokenVerifier(settings)]
        return current[0]

    return verifier


def _asyncapi(runtime: Runtime) -> APIRouter:
    def document(caller: System | None, bus_url: str) -> dict[str, Any]:
        """The AsyncAPI document: every type, and the subscriptions ``caller`` may see (all of
        them for ``None``: the operator holding the configuration file)."""
        subscriptions = (
            runtime.settings.subscriptions if caller is None else runtime.bus.visible_subscriptions(caller)
        )
        return asyncapi_document(
            runtime.registry, subscriptions, bus_url=bus_url, policy=runtime.settings.policy
        )

    return asyncapi_router(document)


def _admin(runtime: Runtime) -> APIRouter:
    async def reload_by_api(caller: System, official: str) -> dict[str, Any]:
        found = await runtime.reload(caller.id, official)
        return {"generation": runtime.bus.generation.number, "changed": not found.nothing, **found.as_dict()}

    return admin_router(reload_by_api, runtime.bus.is_admin, ConfigInvalid)


def _portals(runtime: Runtime) -> list[PortalConnector]:
    """The portal connectors of the running configuration: their figures go to GET /v1/stats and
    the console."""
    portals = [c for c in runtime.connectors.values() if isinstance(c, PortalConnector)]
    for portal in portals:  # the catalogue's report reads the configuration of the moment
        portal.configured_procedures = lambda: runtime.settings.catalogue.procedures
    return portals


class _LivePortals(Sequence[PortalConnector]):
    """The portal connectors of the running configuration, for GET /v1/stats."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def __len__(self) -> int:
        return len(_portals(self._runtime))

    def __getitem__(self, index: int) -> PortalConnector:  # type: ignore[override]
        return _portals(self._runtime)[index]


def _console(runtime: Runtime) -> APIRouter:
    """The operator console (/console); its portal and evidence sections show "not
    configured" on a bus without a portal connector or without data providers."""

    async def portal_rows() -> list[dict[str, str | int | float | None]]:
        portals = _portals(runtime)  # those of the running configuration
        return await portals[0].console_rows() if portals else []

    async def evidence_rows() -> list[dict[str, str | int | float | None]]:
        service = runtime.evidence.service  # its providers and catalogue are those of the moment
        datasets = {name: dataset.provider for name, dataset in service.catalogue.datasets.items()}
        return provider_rows(runtime.metrics_registry, service.providers, datasets)

    operations = PortalOperations(runtime)

    async def portal_moves() -> list[dict[str, str | int | float | None]]:
        """The latest unusual status moves of the portal sync, newest first."""
        portal = operations.connector(None)
        moves = await portal.sync.store.unusual_moves(latest=PORTAL_MOVES_SHOWN)
        return [
            {
                "dossier": move.dossier,
                "from": move.from_status,
                "to": move.to_status,
                "event": move.event_id,
                "accepted by release": "yes" if move.accepted else "no",
            }
            for move in moves
        ]

    async def release(caller: System, dossier: str, reason: str, official: str) -> Mapping[str, Any]:
        return await operations.release(
            caller, dossier, reason, official=official, official_basis="", connector=None
        )

    figures = FigureSources(
        runtime.bus,
        runtime.metrics_registry,
        audit=lambda: getattr(runtime, "audit", None),
        portal=portal_rows if _portals(runtime) else None,
        evidence=evidence_rows if runtime.evidence.service.providers else None,
        portal_moves=portal_moves if _portals(runtime) else None,
    )
    return console_router(
        runtime.bus,
        figures,
        console_secret(),
        portal_release=release if _portals(runtime) else None,
        revocations=runtime.revocations,
    )
