"""Wiring of the evidence broker: the catalogue's providers from the configured connectors, the
query service, the collector sinks and the HTTP route, with their metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from typing import Any

from fastapi import APIRouter
from prometheus_client import CollectorRegistry

from adapters.evidence_metrics import PrometheusEvidenceMetrics
from adapters.http.officials import Verifier
from adapters.http.routes.evidence import evidence_router
from connectors.base import Connector
from lienthong.config.settings import Settings
from router.audit import AuditLog
from router.errors import ConfigError, FieldError
from router.evidence.collection import EventPublisher, EvidenceCollector
from router.evidence.service import EvidenceService
from router.providers import DataProvider
from router.state import CollectionAttempts
from router.subscriptions import Subscription
from router.traced_ports import TracedProvider
from router.tracing import Tracer
from schemas.dataset_schemas import DatasetSchemas, shipped

log = logging.getLogger("lienthong.evidence")


def providers_of(
    settings: Settings, connectors: Mapping[str, Connector], tracer: Tracer | None = None
) -> dict[str, DataProvider]:
    """The data providers of the connectors, checked against the catalogue: each dataset's
    connector must provide that dataset. With a tracer each lookup is a span."""
    providers: dict[str, DataProvider] = {}
    for name, connector in connectors.items():
        provider = connector.provider()
        if provider is not None:
            providers[name] = provider if tracer is None else TracedProvider(provider, tracer)
    problems = []
    for dataset in settings.catalogue.datasets.values():
        provider = providers.get(dataset.provider)
        if provider is None or dataset.name not in provider.datasets:
            offered = ", ".join(sorted(provider.datasets)) if provider is not None else "no dataset"
            problems.append(
                f"{settings.source}: dataset {dataset.name}: connector {dataset.provider!r} provides {offered}"
            )
    if problems:
        raise ConfigError("\n".join(problems))
    return providers


class DatasetValidator:
    """Checks a record against its dataset's response schema, when the dataset has one."""

    def __init__(self, schemas: DatasetSchemas) -> None:
        self.schemas = schemas

    def __call__(self, dataset: str, data: Any) -> tuple[FieldError, ...]:
        if dataset not in self.schemas.versions:
            return ()
        return self.schemas.validate(dataset, data)


class EvidenceWiring:
    def __init__(
        self,
        settings: Settings,
        connectors: Mapping[str, Connector],
        publisher: EventPublisher,
        metrics_registry: CollectorRegistry,
        audit: AuditLog | None,
        tracer: Tracer | None = None,
        attempts: CollectionAttempts | None = None,
    ) -> None:
        self.tracer = tracer
        # the attempts at collections being retried: shared by the bus's processes with
        # state.postgres (their clocks then the wall clock), else each collector's own
        self.attempts = attempts
        self.metrics = PrometheusEvidenceMetrics(metrics_registry)
        schemas = shipped()
        for name in settings.catalogue.datasets:
            if name not in schemas.versions:
                log.warning(
                    "dataset %s has no response schema under schemas/datasets: replies are not checked", name
                )
        self.service = EvidenceService(
            settings.catalogue,
            providers_of(settings, connectors, tracer),
            settings.policy,
            audit,
            validate=DatasetValidator(schemas),
            metrics=self.metrics,
        )
        self.publisher = publisher
        self.record_fields = {
            name: len(schemas.latest_document(name).get("properties", {})) for name in schemas.versions
        }

    def collector(self, subscription: Subscription) -> EvidenceCollector:
        """The sink of a subscription with ``sink: {evidence: {}}``."""
        return EvidenceCollector(
            self.service,
            self.publisher,
            subscription.system,
            subscription.retry,
            deadline_s=float(subscription.sink.options.get("deadline_s", 20.0)),
            metrics=self.metrics,
            record_fields=self.record_fields,
            attempts=self.attempts,
            clock=time.monotonic if self.attempts is None else time.time,
        )

    def reconfigure(
        self, settings: Settings, connectors: Mapping[str, Connector], rebuilt: Collection[str] = ()
    ) -> None:
        """A reloaded configuration's datasets, procedures, providers and policy, for the queries
        that start from now on (the reload checked them with providers_of: lienthong.reload_plan).
        Cached records of a dataset whose definition changed, or whose connector was ``rebuilt``
        (another URL, another registry), are dropped: they came from what is no longer in force."""
        providers = providers_of(settings, connectors, self.tracer)
        service = self.service
        before, after = service.catalogue.datasets, settings.catalogue.datasets
        stale = {
            name
            for name, dataset in before.items()
            if after.get(name) != dataset or dataset.provider in rebuilt
        }
        service.catalogue, service.providers, service.policy = settings.catalogue, providers, settings.policy
        dropped = service.cache.forget(stale)
        if dropped:
            log.info("reload: %d cached record(s) of %s dropped", dropped, ", ".join(sorted(stale)))

    def router(self, officials: Verifier) -> APIRouter:
        """The route; ``officials`` gives the verifier of officials' tokens in force."""
        return evidence_router(self.service, officials)
