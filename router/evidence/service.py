"""The evidence query: policy, cache, provider (with the caller's deadline), validation,
minimisation, audit, provenance; in that order.

Every query about personal data leaves an access record, whatever its outcome. The record of a
release is written before the data leaves: if the audit log cannot take it, the data is withheld
(:class:`router.audit.AuditUnavailable`, 503). Records of refusals and failures are written too,
but a failing audit log does not change what those callers are told (nothing is released).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from router.audit import AccessRecord, AuditUnavailable
from router.errors import FieldError, LienthongError
from router.evidence.cache import EvidenceCache, cache_key
from router.evidence.catalogue import Catalogue, Dataset
from router.evidence.errors import (
    DataRequestDenied,
    InvalidEvidenceQuery,
    NoProvider,
    OfficialRequired,
    UnknownDataset,
)
from router.evidence.metrics import EvidenceMetrics, NoEvidenceMetrics
from router.evidence.minimise import minimise
from router.identifiers import DESCRIPTIONS, is_personal_id, is_procedure_code, is_tax_code_or_personal_id
from router.providers import DataProvider, DataRequest, InvalidProviderReply, RequestContext, current_request

log = logging.getLogger("lienthong.evidence")

RELEASED = "released"
MAX_KEY_VALUE = 256

Validate = Callable[[str, Any], tuple[FieldError, ...]]

# The key fields whose form the bus knows, with what a caller is told: a malformed identifier is
# refused before it reaches a provider or the audit log (others, such as a plate, are the
# provider's to judge).
KEY_FORMATS: Mapping[str, tuple[Callable[[str], bool], str]] = {
    "personal_id": (is_personal_id, DESCRIPTIONS["vn-personal-id"]),
    # any taxpayer's: a provider whose registry holds enterprises only refuses the personal ID
    "tax_code": (is_tax_code_or_personal_id, DESCRIPTIONS["vn-tax-code-or-personal-id"]),
    "holder": (is_tax_code_or_personal_id, "a personal ID or a tax code"),
    "procedure": (is_procedure_code, DESCRIPTIONS["vn-procedure-code"]),
}


class DataRequestPolicy(Protocol):
    """What the service needs of :class:`router.policy.Policy`."""

    def may_request(self, system_id: str, dataset: str, procedure: str, purpose: str) -> bool: ...


class AccessRecorder(Protocol):
    """What the service needs of :class:`router.audit.AuditLog`: writing records."""

    async def record(self, records: Sequence[AccessRecord]) -> None: ...


def _new_request_id() -> str:
    """A random (version 4) UUID's 32 hex digits, as ``uuid.uuid4().hex`` writes them, without
    building the UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


@dataclass(frozen=True, slots=True)
class EvidenceQuery:
    """One request for a dataset. ``requester`` is the system asking, ``official`` the person in
    it (empty only for the bus's own automatic collection), ``deadline`` an absolute
    ``time.monotonic()`` by which the answer is needed (None: the provider's own policy)."""

    requester: str
    official: str
    dataset: str
    key: Mapping[str, str]
    procedure: str
    dossier: str
    purpose: str
    deadline: float | None = None
    traceparent: str | None = None
    request_id: str = field(default_factory=_new_request_id)
    automatic: bool = False  # the bus's collection on submission: no official to name
    # how the bus knows the official (router.officials.Official.audit_basis); empty for none
    official_basis: str = ""


@dataclass(frozen=True, slots=True)
class Provenance:
    provider: str
    dataset: str
    retrieved_at: str  # RFC 3339, UTC
    cache_hit: bool
    request_id: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "dataset": self.dataset,
            "retrieved_at": self.retrieved_at,
            "cache_hit": self.cache_hit,
            "request_id": self.request_id,
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    data: dict[str, Any]
    provenance: Provenance


# the date and time to the second of the latest _rfc3339: the answers of one second share it
_second_written: list[tuple[int, str]] = [(0, "1970-01-01T00:00:00")]


def _rfc3339(epoch: float) -> str:
    """``epoch`` in RFC 3339 to the millisecond, UTC, as ``datetime.fromtimestamp(epoch, UTC)
    .isoformat(timespec="milliseconds")`` with ``Z`` writes it: rounded to the microsecond (half
    to even), then cut to the millisecond."""
    fraction, whole = math.modf(epoch)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    elif micro < 0:
        whole, micro = whole - 1, micro + 1_000_000
    second = int(whole)
    written = _second_written[0]
    if written[0] != second:
        written = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        _second_written[0] = written
    return f"{written[1]}.{micro // 1000:03d}Z"


def _no_validation(dataset: str, data: Any) -> tuple[FieldError, ...]:
    return ()


class EvidenceService:
    def __init__(
        self,
        catalogue: Catalogue,
        providers: Mapping[str, DataProvider],
        policy: DataRequestPolicy,
        audit: AccessRecorder | None,
        *,
        validate: Validate = _no_validation,
        cache: EvidenceCache | None = None,
        metrics: EvidenceMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalogue = catalogue
        self.providers = providers
        self.policy = policy
        self.audit = audit
        self.validate = validate
        self.cache = cache if cache is not None else EvidenceCache()
        self.metrics = metrics or NoEvidenceMetrics()
        self._clock = clock
        self._wall = wall_clock

    def dataset(self, name: str) -> Dataset:
        dataset = self.catalogue.datasets.get(name)
        if dataset is None:
            known = ", ".join(sorted(self.catalogue.datasets)) or "none"
            raise UnknownDataset(f"no dataset {name!r} in the catalogue; known: {known}")
        return dataset

    async def query(self, query: EvidenceQuery) -> Evidence:
        dataset = self.dataset(query.dataset)
        # a malformed identifier is nobody's: refused before the audit log, which records every
        # later refusal of a query for personal data, so the person sees attempts refused too
        self._check_key(dataset, query.key)
        try:
            evidence = await self._answer(dataset, query)
        except LienthongError as error:
            outcome = error.code
            self.metrics.request(dataset.name, dataset.provider, outcome)
            if dataset.personal and not isinstance(error, AuditUnavailable):
                await self._record_failure(dataset, query, outcome)
            raise
        self.metrics.request(dataset.name, dataset.provider, RELEASED)
        return evidence

    async def _answer(self, dataset: Dataset, query: EvidenceQuery) -> Evidence:
        if dataset.personal and not query.official and not query.automatic:
            raise OfficialRequired(
                f"{dataset.name} holds personal data: name the official (X-Official-Token, or X-Official-Id where allowed)"
            )
        if dataset.personal and not query.dossier.strip():
            # the audit record says why a person's data was read: for which dossier
            raise InvalidEvidenceQuery(
                f"{dataset.name} holds personal data: it is released for a dossier; give its code",
                (FieldError("/dossier", "the dossier the personal data is requested for"),),
            )
        if not self.policy.may_request(query.requester, dataset.name, query.procedure, query.purpose):
            raise DataRequestDenied(
                f"no policy lets '{query.requester}' request {dataset.name} for procedure "
                f"'{query.procedure}' and purpose '{query.purpose}'"
            )
        if query.purpose not in dataset.fields:
            raise DataRequestDenied(f"{dataset.name} releases no field for purpose '{query.purpose}'")
        procedure = self.catalogue.procedures.get(query.procedure)
        if procedure is not None and all(need.dataset != dataset.name for need in procedure.needs):
            # data minimisation: a procedure of the catalogue gets the datasets it needs, no others
            needed = ", ".join(sorted({need.dataset for need in procedure.needs})) or "none"
            raise DataRequestDenied(
                f"procedure {procedure.code} does not need {dataset.name}; it needs: {needed}"
            )
        record, provider, retrieved_at, hit = await self._record(dataset, query)
        released = minimise(record, dataset.fields[query.purpose])
        provenance = Provenance(provider, dataset.name, _rfc3339(retrieved_at), hit, query.request_id)
        if dataset.personal:
            # Before anything leaves: AuditUnavailable withholds the data.
            await self._audit(dataset, query, RELEASED, provider, hit, record)
        return Evidence(released, provenance)

    async def _record(
        self, dataset: Dataset, query: EvidenceQuery
    ) -> tuple[dict[str, Any], str, float, bool]:
        key = cache_key(dataset.name, query.key)
        if dataset.cacheable:
            cached = self.cache.get(key)
            self.metrics.cache(dataset.name, cached is not None)
            if cached is not None:
                return cached.record, cached.provider, cached.retrieved_at, True
        # a reload that drops this dataset's records while the lookup runs must win (cache.forget)
        generation = self.cache.generation
        context = RequestContext(
            procedure=query.procedure,
            request_id=query.request_id,
            deadline=query.deadline,
            traceparent=query.traceparent,
            dossier=query.dossier,
            official=query.official,
            requester=query.requester,
        )
        record = await self._fetch(dataset, query.key, context)
        retrieved_at = self._wall()
        if dataset.cacheable and dataset.cache_ttl_s is not None:
            self.cache.put(
                key, record, dataset.provider, retrieved_at, dataset.cache_ttl_s, generation=generation
            )
        return record, dataset.provider, retrieved_at, False

    async def lookup(self, name: str, key: Mapping[str, str], context: RequestContext) -> dict[str, Any]:
        """The whole record of the dataset ``name`` for ``key``, from its provider and checked
        against the dataset's schema, with no policy, minimisation, cache or audit: the lookup of
        ``lienthong datasets try``, which an integrator runs to see a dataset work."""
        dataset = self.dataset(name)
        self._check_key(dataset, key)
        return await self._fetch(dataset, key, context)

    async def _fetch(
        self, dataset: Dataset, key: Mapping[str, str], context: RequestContext
    ) -> dict[str, Any]:
        """The provider's record, checked against the dataset's schema."""
        provider = self.providers.get(dataset.provider)
        if provider is None or dataset.name not in provider.datasets:
            raise NoProvider(f"{dataset.name}: its provider {dataset.provider!r} is not configured for it")
        started = self._clock()
        lookup = current_request.set(context)
        try:
            record = await provider.fetch(DataRequest(dataset.name, dict(key), context))
        finally:
            current_request.reset(lookup)
            self.metrics.provider_latency(dataset.provider, self._clock() - started)
        problems = self.validate(dataset.name, record)
        if problems:
            first = problems[0]
            raise InvalidProviderReply(
                f"{dataset.name} from {dataset.provider} does not match its schema: "
                f"{first.pointer or '/'}: {first.message}",
                provider=dataset.provider,
            )
        return record

    def _check_key(self, dataset: Dataset, key: Mapping[str, str]) -> None:
        problems = [
            FieldError(f"/subject/{name}", f"{dataset.name} is keyed by it: give it")
            for name in dataset.key
            if not isinstance(key.get(name), str) or not key[name]
        ]
        problems += [
            FieldError(
                f"/subject/{name}", f"{dataset.name} is not keyed by it; keys: {', '.join(dataset.key)}"
            )
            for name in key
            if name not in dataset.key
        ]
        problems += [
            FieldError(f"/subject/{name}", f"at most {MAX_KEY_VALUE} characters")
            for name, value in key.items()
            if isinstance(value, str) and len(value) > MAX_KEY_VALUE
        ]
        problems += [
            FieldError(f"/subject/{name}", f"is not {KEY_FORMATS[name][1]}")
            for name, value in key.items()
            if name in dataset.key
            and name in KEY_FORMATS
            and isinstance(value, str)
            and value
            and len(value) <= MAX_KEY_VALUE
            and not KEY_FORMATS[name][0](value)
        ]
        if problems:
            raise InvalidEvidenceQuery(f"the subject does not fit {dataset.name}'s key", tuple(problems))

    async def _audit(
        self,
        dataset: Dataset,
        query: EvidenceQuery,
        outcome: str,
        provider: str,
        hit: bool,
        record: Mapping[str, Any] | None = None,
    ) -> None:
        if self.audit is None:
            raise AuditUnavailable("no audit log is configured: personal data is not released")
        access = AccessRecord(
            request_id=query.request_id,
            requester=query.requester,
            official=query.official,
            official_basis=query.official_basis,
            dataset=dataset.name,
            subject=dataset.subject_of(query.key, record),
            purpose=query.purpose,
            procedure=query.procedure,
            dossier=query.dossier,
            outcome=outcome,
            provider=provider,
            cache_hit=hit,
        )
        await self.audit.record([access])

    async def _record_failure(self, dataset: Dataset, query: EvidenceQuery, outcome: str) -> None:
        try:
            await self._audit(dataset, query, outcome, dataset.provider, False)
        except AuditUnavailable:
            log.warning("access record of a refused %s query not written (%s)", dataset.name, outcome)
