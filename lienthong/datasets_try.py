"""One lookup of a configured dataset through its connector, as ``lienthong datasets try``
makes it: the whole path of an evidence query but policy, minimisation and cache, recorded in the
audit log when the dataset holds personal data."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from adapters import reply_sizes
from connectors.base import ConnectorDeps
from connectors.kinds import builder
from lienthong.config.settings import Settings
from lienthong.datasets_try_audit import RELEASED, access, opened_audit_log
from lienthong.evidence import DatasetValidator
from router.audit import AuditUnavailable
from router.errors import ConfigError, LienthongError
from router.evidence.errors import InvalidEvidenceQuery
from router.evidence.service import EvidenceService
from router.providers import RequestContext
from schemas.dataset_schemas import shipped


class _NoPolicy:
    """``datasets try`` asks as the operator at the console: no system's policy applies."""

    def may_request(self, system_id: str, dataset: str, procedure: str, purpose: str) -> bool:
        return True


@dataclass(slots=True)
class Outcome:
    """What one try gave: the record or the error, the replies' sizes and the time taken."""

    record: dict[str, Any] | None = None
    error: LienthongError | None = None
    replies: list[int] = field(default_factory=list)
    seconds: float = 0.0


def subject_key(settings: Settings, dataset: str, subjects: list[str]) -> dict[str, str]:
    """The key of the lookup: ``field=value`` pairs, or one bare value for a dataset keyed by
    one field. A ConfigError says what the dataset is keyed by."""
    entry = settings.catalogue.datasets.get(dataset)
    if entry is None:
        known = ", ".join(sorted(settings.catalogue.datasets)) or "none"
        raise ConfigError(f"no dataset {dataset!r} in the catalogue of {settings.source}; known: {known}")
    key: dict[str, str] = {}
    for subject in subjects:
        name, given, value = subject.partition("=")
        if not given:
            if len(entry.key) != 1:
                raise ConfigError(
                    f"{dataset} is keyed by {', '.join(entry.key)}: give each as --subject NAME=VALUE"
                )
            name, value = entry.key[0], subject
        key[name] = value
    return key


async def try_dataset(
    settings: Settings, dataset: str, key: dict[str, str], procedure: str, deps: ConnectorDeps
) -> Outcome:
    """One lookup of ``dataset`` through its provider's connector, as the evidence service makes
    it (key check, provider, the dataset's schema), without policy, minimisation, cache or audit."""
    entry = settings.catalogue.datasets[dataset]
    connectors = {c.name: c for c in settings.connectors}
    connector = builder(connectors[entry.provider].kind)(connectors[entry.provider], deps)
    outcome = Outcome()
    await connector.start()
    try:
        provider = connector.provider()
        providers = {entry.provider: provider} if provider is not None else {}
        service = EvidenceService(
            settings.catalogue, providers, _NoPolicy(), None, validate=DatasetValidator(shipped())
        )
        started = time.monotonic()
        with reply_sizes.measured() as outcome.replies:
            try:
                outcome.record = await service.lookup(dataset, key, RequestContext(procedure=procedure))
            except LienthongError as error:
                outcome.error = error
        outcome.seconds = time.monotonic() - started
    finally:
        await connector.aclose()
    return outcome


async def try_audited(
    settings: Settings, dataset: str, key: dict[str, str], procedure: str, reason: str, deps: ConnectorDeps
) -> Outcome:
    """:func:`try_dataset`, recorded in the deployment's audit log when the dataset holds personal
    data: the log is opened before the registry is asked (a log that cannot be written asks no
    one), and the access written before the record is returned; AuditUnavailable withholds it.
    A lookup that failed is recorded with its error code, as the evidence service records it;
    a malformed identifier names nobody and is not recorded."""
    entry = settings.catalogue.datasets[dataset]
    if not entry.personal:
        return await try_dataset(settings, dataset, key, procedure, deps)
    try:
        async with opened_audit_log(settings, dataset) as audit:
            outcome = await try_dataset(settings, dataset, key, procedure, deps)
            if isinstance(outcome.error, InvalidEvidenceQuery):
                return outcome
            word = RELEASED if outcome.error is None else outcome.error.code
            await audit.record([access(entry, key, procedure, reason, word, outcome.record)])
    except ConfigError:
        raise  # a key problem, or the SQLite log held by a running bus (AuditLogHeld)
    except LienthongError as error:
        # no audit, no data: the record is withheld whatever the lookup gave
        return Outcome(error=AuditUnavailable(f"the access could not be recorded: {error.detail}"))
    return outcome
