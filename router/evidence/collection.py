"""Automatic collection: on ``dossier.submitted``, pull every dataset the procedure needs and
publish ``dossier.evidence.collected`` for the submitting system.

The collector is a subscription's sink (``sink: {evidence: {}}``), so the delivery machinery
gives it retries, a circuit breaker and dead letters. The subscription's system is the broker's
identity: it publishes the result (policy must let it publish ``dossier.evidence.collected``).
Each dataset is requested as the submitting system, for the procedure's purpose, so the same
policy, minimisation and audit apply as to a query through the API.

A dossier's datasets are pulled concurrently. When some failed in a way that may pass (a
provider down or slow, the audit log unavailable), the collector asks delivery to retry (a
retryable :class:`SinkError`); cached datasets make the retry cheap. On the last attempt its
retry budget allows, it publishes what it has, the failures listed. The event id is derived from
the dossier code, so the bus's idempotent publish makes the collection once per dossier.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from router import envelope, tracing
from router.audit import AuditUnavailable
from router.envelope import CloudEvent
from router.errors import LienthongError, Unavailable
from router.evidence.catalogue import MissingKey, Need, Procedure, keys_for
from router.evidence.metrics import EvidenceMetrics, NoEvidenceMetrics
from router.evidence.service import Evidence, EvidenceQuery, EvidenceService
from router.ports import StoredMessage
from router.providers import ProviderError, ProviderTimeout, ProviderUnavailable
from router.sinks import SinkError
from router.state import CollectionAttempts
from router.subscriptions import RetryPolicy

log = logging.getLogger("lienthong.evidence")

SUBMITTED = "dossier.submitted"
COLLECTED = "dossier.evidence.collected"
# Event ids of collections: uuid5 of the dossier code in this namespace.
NAMESPACE = uuid.UUID("5f0c4c1e-7a57-4b8e-9a39-6c6f6c6c6563")
# How long one collection may wait for its providers, in all (each call also has its own policy).
DEFAULT_DEADLINE_S = 20.0
MISSING_KEY = "missing_key"
# Dossiers whose collection is being retried, remembered at most (the oldest is forgotten first:
# its next attempt then counts from one again, which only delays its partial publication).
MAX_TRACKED = 10_000


class EventPublisher(Protocol):
    """What the collector needs of :class:`router.publishing.Publisher`."""

    async def publish(self, system_id: str, events: Sequence[CloudEvent], batch: bool) -> Any: ...

    async def accepted_before(self, source: str, event_id: str) -> bool: ...


def collection_id(dossier_code: str) -> str:
    return str(uuid.uuid5(NAMESPACE, dossier_code))


def _may_pass(error: LienthongError) -> bool:
    """Whether a later attempt may succeed: the provider was down or slow, or the audit log was."""
    if isinstance(error, ProviderUnavailable | ProviderTimeout | AuditUnavailable | Unavailable):
        return True
    return isinstance(error, ProviderError) and error.retryable


@dataclass(frozen=True, slots=True)
class Outcome:
    need: Need
    key: dict[str, str]
    evidence: Evidence | None = None
    reason: str = ""
    detail: str = ""
    may_pass: bool = False


class LocalAttempts:
    """:class:`router.state.CollectionAttempts` in this process's memory (a bus of one process),
    bounded: past :data:`MAX_TRACKED` dossiers the oldest is forgotten."""

    def __init__(self) -> None:
        self._attempts: dict[tuple[str, str], tuple[int, float]] = {}

    async def attempt(self, collector: str, dossier: str, now: float) -> tuple[int, float]:
        key = (collector, dossier)
        count, first = self._attempts.get(key, (0, now))
        if key not in self._attempts and len(self._attempts) >= MAX_TRACKED:
            del self._attempts[next(iter(self._attempts))]
        self._attempts[key] = (count + 1, first)
        return count + 1, first

    async def forget(self, collector: str, dossier: str) -> None:
        self._attempts.pop((collector, dossier), None)

    def clear(self) -> None:
        self._attempts.clear()


class EvidenceCollector:
    """The sink of ``sink: {evidence: {}}``. ``source`` is the subscription's system."""

    def __init__(
        self,
        service: EvidenceService,
        publisher: EventPublisher,
        source: str,
        retry: RetryPolicy,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        metrics: EvidenceMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        record_fields: Mapping[str, int] | None = None,
        attempts: CollectionAttempts | None = None,
    ) -> None:
        """``attempts`` keeps the attempts at a collection (default: this process's memory); a
        store shared by several processes takes ``clock`` as the wall clock."""
        self.service = service
        # per dataset, the top-level fields of its record (its response schema's properties): what
        # a purpose that sees the whole record ("*") would have had filled, in the metric of fields
        self.record_fields = record_fields or {}
        self.publisher = publisher
        self.source = source
        self.retry = retry
        self.deadline_s = deadline_s
        self.metrics = metrics or NoEvidenceMetrics()
        self._clock = clock
        self._local: LocalAttempts | None = None
        if attempts is None:
            attempts = self._local = LocalAttempts()
        self.attempts: CollectionAttempts = attempts

    async def send(self, messages: Sequence[StoredMessage], idempotency_key: str) -> None:
        for message in messages:
            await self._one(message)

    async def close(self) -> None:
        if self._local is not None:
            self._local.clear()

    async def _one(self, message: StoredMessage) -> None:
        try:
            event = envelope.from_message(message)
        except LienthongError as error:
            raise SinkError(f"not a CloudEvent: {error.detail}", retryable=False) from None
        if event.type != SUBMITTED or not isinstance(event.data, dict):
            return
        dossier: dict[str, Any] = event.data
        code = str(dossier.get("dossierCode", ""))
        procedure = self.service.catalogue.procedures.get(str(dossier.get("procedureCode", "")))
        if procedure is None or not code:
            log.info("dossier %s: procedure %s is not in the catalogue", code, dossier.get("procedureCode"))
            return
        if await self.publisher.accepted_before(self.source, collection_id(code)):
            # A redelivery, or the submission sent again: the collection went out already, so the
            # providers are not asked again and no access is recorded for data that would go
            # nowhere. The embedded log knows; Kafka keeps no dedup ids, so there a redelivery
            # collects and publishes again (docs/kafka.md).
            log.info("dossier %s: its collection was published already; not collected again", code)
            await self.attempts.forget(self.source, code)
            return
        count, since = await self.attempts.attempt(self.source, code, self._clock())
        outcomes = await self.collect(procedure, dossier, event.source, tracing.of_headers(message.headers))
        passing = [o for o in outcomes if o.may_pass]
        if passing and not self._last_attempt(count, since):
            first = passing[0]
            # the collector works: a provider behind it is down, so this retry must not open the
            # subscription's circuit and hold up dossiers that need other providers
            raise SinkError(
                f"dossier {code}: {len(passing)} of {len(outcomes)} datasets failed for now "
                f"(first: {first.need.dataset}: {first.reason})",
                retryable=True,
                sink_healthy=True,
            )
        await self._publish(procedure, dossier, event, outcomes)
        await self.attempts.forget(self.source, code)

    def _last_attempt(self, count: int, first: float) -> bool:
        """Whether delivery would give up if this attempt failed: its attempt count, or its time
        budget with the longest pause it could take before the next attempt."""
        policy = self.retry
        if count >= policy.max_attempts:
            return True
        pause = min(policy.max_backoff_s, policy.initial_backoff_s * 2.0 ** (count - 1))
        return self._clock() - first + pause >= policy.max_elapsed_s

    async def collect(
        self, procedure: Procedure, dossier: dict[str, Any], requester: str, traceparent: str | None = None
    ) -> list[Outcome]:
        """Every dataset the procedure needs for this dossier, pulled concurrently."""
        deadline = self._clock() + self.deadline_s
        code = str(dossier.get("dossierCode", ""))
        planned: list[tuple[Need, dict[str, str]]] = []
        missing: list[Outcome] = []
        for need in procedure.needs:
            try:
                planned.extend((need, key) for key in keys_for(need, dossier))
            except MissingKey as error:
                missing.append(Outcome(need, {}, reason=MISSING_KEY, detail=str(error)))

        async def one(need: Need, key: dict[str, str]) -> Outcome:
            query = EvidenceQuery(
                requester=requester,
                official="",
                dataset=need.dataset,
                key=key,
                procedure=procedure.code,
                dossier=code,
                purpose=procedure.purpose,
                deadline=deadline,
                traceparent=traceparent,
                automatic=True,
            )
            try:
                return Outcome(need, key, await self.service.query(query))
            except LienthongError as error:
                return Outcome(need, key, reason=error.code, detail=error.detail, may_pass=_may_pass(error))

        found = await asyncio.gather(*(one(need, key) for need, key in planned))
        return [*found, *missing]

    async def _publish(
        self, procedure: Procedure, dossier: dict[str, Any], submitted: CloudEvent, outcomes: list[Outcome]
    ) -> None:
        code = str(dossier["dossierCode"])
        data = collected_data(procedure, code, submitted.source, outcomes)
        extensions: dict[str, envelope.AttributeValue] = {"recipient": submitted.source}
        traceparent = submitted.extensions.get(tracing.ATTRIBUTE)
        if isinstance(traceparent, str):
            extensions[tracing.ATTRIBUTE] = traceparent
        event = CloudEvent(
            id=collection_id(code),
            source=self.source,
            type=COLLECTED,
            subject=code,
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            datacontenttype=envelope.JSON,
            data=data,
            extensions=extensions,
        )
        try:
            accepted = await self.publisher.publish(self.source, [event], False)
        except Unavailable as error:
            raise SinkError(f"dossier {code}: {error.detail}", retryable=True) from None
        except LienthongError as error:
            # The broker's own event refused (policy, schema): a configuration mistake, not transient.
            raise SinkError(f"dossier {code}: {COLLECTED} refused: {error.detail}", retryable=False) from None
        if accepted and not getattr(accepted[0], "duplicate", False):
            self._count_fields(procedure, outcomes)

    def _count_fields(self, procedure: Procedure, outcomes: list[Outcome]) -> None:
        """Both counts in one unit: the fields the procedure's purpose may see of each dataset,
        whether the bus filled them (found) or the applicant still has to (not found)."""
        auto = asked = 0
        for outcome in outcomes:
            count = self._field_count(outcome.need.dataset, procedure.purpose)
            if outcome.evidence is not None:
                auto += count
            else:
                asked += count
        self.metrics.fields(procedure.code, "auto", auto)
        self.metrics.fields(procedure.code, "asked", asked)

    def _field_count(self, dataset_name: str, purpose: str) -> int:
        dataset = self.service.catalogue.datasets.get(dataset_name)
        fields = dataset.fields.get(purpose) if dataset is not None else None
        if fields:
            return len(fields)
        return self.record_fields.get(dataset_name, 1)  # the whole record ("*")


def collected_data(
    procedure: Procedure, code: str, requester: str, outcomes: list[Outcome]
) -> dict[str, Any]:
    """The data of ``dossier.evidence.collected`` (schemas/events/dossier.evidence.collected)."""
    found: list[dict[str, Any]] = []
    not_found: list[dict[str, Any]] = []
    to_ask: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        if outcome.evidence is not None:
            provenance = outcome.evidence.provenance
            found.append(
                {
                    "dataset": outcome.need.dataset,
                    "key": outcome.key,
                    "data": outcome.evidence.data,
                    "provenance": {
                        "provider": provenance.provider,
                        "retrievedAt": provenance.retrieved_at,
                        "cacheHit": provenance.cache_hit,
                        "requestId": provenance.request_id,
                    },
                }
            )
            continue
        entry: dict[str, Any] = {"dataset": outcome.need.dataset, "reason": outcome.reason}
        if outcome.key:
            entry["key"] = outcome.key
        if outcome.detail:
            entry["detail"] = outcome.detail[:2000]
        not_found.append(entry)
        # one document per need, whatever number of its requests failed
        to_ask.setdefault(
            outcome.need.dataset,
            {"dataset": outcome.need.dataset, "document": outcome.need.document, "reason": outcome.reason},
        )
    return {
        "dossierCode": code,
        "procedureCode": procedure.code,
        "requester": requester,
        "complete": not not_found,
        "found": found,
        "notFound": not_found,
        "toAsk": list(to_ask.values()),
    }
