"""The citizen data store connector (kind ``citizen_store``): verified results in, datasets out.

As a **sink** (a subscription on ``dossier.result.issued`` with ``sink: {connector: {name: ...}}``)
it checks each result's digital signature (:mod:`adapters.signatures`) against the configured
trust anchors and stores the verified result in the store. A result that fails a check is refused
for good (a non-retryable :class:`SinkError` whose detail is the reason: the delivery dead-letters
it and it never reaches the store); a store that is down or overloaded is retried by the delivery.

As a **data provider** it answers dataset ``result.document``, keyed by ``holder`` (personal ID or
tax code) and ``procedure``, or by ``result_code`` (and optionally ``agency``): the newest stored
result that has not expired. The signed original is verified again before it is served, so a
record altered inside the store is never passed on as verified.

Options (``connectors[].options``): ``trust_anchors``, a PEM file of the root CA certificates that
agencies' signing certificates must chain to (relative to the configuration file's folder), and
``revocation``, where the revocation status of signing certificates comes from and what an
unknown status does (:mod:`adapters.revocation`). The store is called with the entry's ``tls:``
(private CA, client certificate) and ``auth:`` (an API key or OAuth2 client credentials,
:mod:`connectors.client_auth`).

The time a result reached the bus, which its signing certificate must be valid at, is the bus's
own stamp (:mod:`router.received`), never the record's timestamp.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from adapters.provider_http import AiohttpClient, ClientFactory
from adapters.rest import RestEndpoint, RestProvider
from adapters.revocation import RevocationChecker, RevocationSettings, settings_of
from adapters.signatures import Reason, SignatureRejected, TrustAnchors, VerifiedSignature, verify
from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.citizen_store import mapping
from connectors.citizen_store.contract import RESULTS
from connectors.client_auth import outbound_auth
from connectors.kind_settings import SUPPORTED
from router.errors import ConfigError
from router.identifiers import is_personal_id, is_tax_code
from router.ports import StoredMessage
from router.providers import (
    CallPolicy,
    DataRequest,
    InvalidProviderReply,
    InvalidProviderRequest,
    ProviderError,
    ProviderUnavailable,
    SubjectNotFound,
)
from router.received import received_at
from router.sinks import Sink, SinkError
from router.subscriptions import BreakerPolicy, SinkSpec

DATASET = "result.document"
EVENT_TYPE = "dossier.result.issued"
OPTIONS = frozenset(SUPPORTED["citizen_store"].options)

Clock = Callable[[], dt.datetime]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ResultVerifier:
    """The signature checks of one store: its trust anchors, and revocation of the signers'
    certificates (adapters.revocation; mode off unless configured)."""

    def __init__(self, anchors: TrustAnchors, revocation: RevocationChecker | None = None) -> None:
        self.anchors = anchors
        self.revocation = revocation or RevocationChecker(RevocationSettings())

    async def check_revocation(self, result: Mapping[str, Any]) -> None:
        """After :meth:`check`: raises SignatureRejected if the signer's certificate is revoked,
        or its status is unknown and the mode requires one."""
        await self.revocation.check(result, self.anchors)

    def check(self, result: Mapping[str, Any], received_at: dt.datetime) -> VerifiedSignature:
        """Raises SignatureRejected with the reason."""
        issuing = result.get("issuingAgency")
        agency = str(issuing.get("code", "")) if isinstance(issuing, Mapping) else ""
        return verify(
            result,
            self.anchors,
            agency_code=agency,
            signed_at=mapping.instant(result.get("issuedAt"), "issuedAt"),
            received_at=received_at,
        )


class ResultSink:
    """Verifies each result and stores it; one store call per event."""

    def __init__(self, verifier: ResultVerifier, store: RestProvider, clock: Clock = _now) -> None:
        self.verifier = verifier
        self.store = store
        self._clock = clock

    async def send(self, messages: Sequence[StoredMessage], idempotency_key: str) -> None:
        for message in messages:
            key = idempotency_key if len(messages) == 1 else _event_id(message, idempotency_key)
            await self._one(message, key)

    async def _one(self, message: StoredMessage, key: str) -> None:
        event_type = (message.header("ce_type") or b"").decode("utf-8", "replace")
        if event_type != EVENT_TYPE:
            raise SinkError(
                f"the citizen data store takes {EVENT_TYPE} only, not {event_type!r}", retryable=False
            )
        try:
            result = orjson.loads(message.value)
        except orjson.JSONDecodeError as error:
            raise SinkError(f"the event data is not JSON: {error}", retryable=False) from None
        if not isinstance(result, dict):
            raise SinkError("the event data is not a JSON object", retryable=False)
        missing = mapping.missing_for_store(result)
        if missing is not None:
            raise SinkError(f"result_not_storable: {missing}", retryable=False)
        # the bus's time of arrival, never the record's timestamp (a Kafka producer sets that)
        arrived = received_at(message) or self._clock()
        try:
            verified = self.verifier.check(result, arrived)
            await self.verifier.check_revocation(result)
        except SignatureRejected as rejected:
            # a status that cannot be obtained now may be later (a CRL server back up): retried
            retryable = rejected.reason is Reason.REVOCATION_UNKNOWN
            raise SinkError(rejected.detail, retryable=retryable) from None
        record = mapping.store_record(result, verified)
        try:
            await self.store.request("POST", RESULTS, json=record, idempotency_key=key)
        except ProviderError as error:
            status = getattr(error, "http_status", None)
            raise SinkError(
                f"the citizen data store: {error.detail}", retryable=error.retryable, status=status
            ) from None

    async def close(self) -> None:
        await self.store.aclose()


class ResultProvider:
    """Dataset ``result.document`` from the store, each result verified again before it is served."""

    def __init__(self, name: str, verifier: ResultVerifier, store: RestProvider, clock: Clock = _now) -> None:
        self._name = name
        self.verifier = verifier
        self.store = store
        self._clock = clock

    @property
    def name(self) -> str:
        return self._name

    @property
    def datasets(self) -> frozenset[str]:
        return frozenset({DATASET})

    @property
    def circuit_state(self) -> str:
        return self.store.circuit_state

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        if request.dataset != DATASET:
            raise InvalidProviderRequest(
                f"{self._name} provides {DATASET}, not {request.dataset}", provider=self._name
            )
        params, what = _query(request.key)
        context = request.context
        reply = await self.store.get(
            RESULTS, params=params, deadline=context.deadline, traceparent=context.traceparent
        )
        records = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(records, list):
            raise InvalidProviderReply(f"{self._name}: the reply has no 'results' list", provider=self._name)
        now = self._clock()
        try:
            current = [r for r in records if isinstance(r, dict) and mapping.still_valid(r, now)]
        except SignatureRejected as rejected:  # an expiry that is not a time: the store's fault
            raise InvalidProviderReply(f"{self._name}: {rejected.detail}", provider=self._name) from None
        if not current:
            expired = f" ({len(records)} expired)" if records else ""
            raise SubjectNotFound(f"no current result for {what}{expired}", provider=self._name)
        return await self._served(current[0])

    async def _served(self, record: Mapping[str, Any]) -> dict[str, Any]:
        try:
            signed = record["vanBanKy"]
            if not isinstance(signed, Mapping):
                raise TypeError("'vanBanKy' (the signed result) as an object")
            verified = self.verifier.check(signed, mapping.verified_at(record))
            await self.verifier.check_revocation(signed)
        except SignatureRejected as rejected:
            if rejected.reason is Reason.REVOCATION_UNKNOWN:
                raise ProviderUnavailable(f"{self._name}: {rejected.detail}", provider=self._name) from None
            raise InvalidProviderReply(
                f"{self._name}: the stored result no longer verifies: {rejected.detail}",
                provider=self._name,
            ) from None
        except (KeyError, TypeError) as error:
            raise InvalidProviderReply(
                f"{self._name}: a stored record lacks {error}", provider=self._name
            ) from None
        return mapping.result_document(signed, verified)

    async def aclose(self) -> None:
        await self.store.aclose()


def _query(key: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The store's query parameters for a dataset key, and the key's kind for messages: never its
    values (a holder's personal ID would reach the problem reply and the published
    ``dossier.evidence.collected`` event's ``notFound``)."""
    if key.get("result_code"):
        params = {"resultCode": key["result_code"]}
        if key.get("agency"):
            params["agency"] = key["agency"]
        return params, "this result code"
    holder, procedure = key.get("holder", ""), key.get("procedure", "")
    if not (is_personal_id(holder) or is_tax_code(holder)):
        raise InvalidProviderRequest(
            "'holder' must be a 12-digit personal ID or a tax code (or give 'result_code')"
        )
    if not procedure:
        raise InvalidProviderRequest("'procedure' (the procedure code of the result) is required")
    kind = "personal ID" if is_personal_id(holder) else "tax code"
    return {"holder": holder, "procedure": procedure}, f"this holder's {kind} and procedure"


def _event_id(message: StoredMessage, fallback: str) -> str:
    raw = message.header("ce_id")
    return raw.decode("utf-8", "replace") if raw else f"{fallback}/{message.offset}"


class CitizenStoreConnector:
    def __init__(
        self,
        settings: ConnectorSettings,
        anchors: TrustAnchors,
        client: ClientFactory = AiohttpClient,
        revocation: RevocationChecker | None = None,
    ) -> None:
        self.settings = settings
        self._client = client
        self.verifier = ResultVerifier(anchors, revocation)
        outbound_auth(settings)  # a missing secret fails the build, not the first call
        self._provider: ResultProvider | None = None

    @property
    def name(self) -> str:
        return self.settings.name

    def provider(self) -> ResultProvider:
        """The data provider: one for the connector (one pool, one breaker), closed with it."""
        if self._provider is None:
            endpoint = self._endpoint(self.settings.call_policy)
            self._provider = ResultProvider(self.name, self.verifier, RestProvider(endpoint, self._client))
        return self._provider

    def sink(self, spec: SinkSpec) -> Sink:
        # One attempt per call and no breaker of its own: the subscription's delivery retries
        # and has the circuit breaker (a sink makes exactly one attempt, router.sinks).
        policy = CallPolicy(
            timeout_s=self.settings.call_policy.timeout_s,
            deadline_s=self.settings.call_policy.timeout_s,
            max_attempts=1,
            breaker=BreakerPolicy(failure_threshold=1_000_000, reset_timeout_s=0.001),
        )
        endpoint = self._endpoint(policy)
        return ResultSink(self.verifier, RestProvider(endpoint, self._client))

    def _endpoint(self, policy: CallPolicy) -> RestEndpoint:
        """The store's endpoint with the connector's TLS (private CA, client certificate)."""
        tls = self.settings.tls
        return RestEndpoint(
            name=self.name,
            base_url=self.settings.url,
            policy=policy,
            auth=outbound_auth(self.settings),
            client_cert=tls.client_cert,
            ca_file=tls.ca_file,
        )

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        if self._provider is not None:
            await self._provider.aclose()
            self._provider = None
        await self.verifier.revocation.aclose()


def from_settings(settings: ConnectorSettings, deps: ConnectorDeps) -> CitizenStoreConnector:
    unknown = set(settings.options) - OPTIONS
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(sorted(unknown))} of a citizen_store connector; known: "
            f"{', '.join(sorted(OPTIONS))}"
        )
    raw = settings.options.get("trust_anchors")
    if not isinstance(raw, str) or not raw:
        raise ConfigError(
            "option 'trust_anchors' is required: a PEM file of the root CA certificates that the "
            "agencies' signing certificates chain to"
        )
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = (deps.config_dir or Path.cwd()) / path
    try:
        anchors = TrustAnchors.from_file(path)
    except OSError as error:
        raise ConfigError(f"option 'trust_anchors': cannot read '{path}': {error.strerror}") from None
    except ValueError as error:
        raise ConfigError(f"option 'trust_anchors': '{path}' holds no PEM certificate: {error}") from None
    revocation = RevocationSettings()  # mode off: no revocation source configured
    if "revocation" in settings.options:
        try:
            revocation = settings_of(settings.options["revocation"], deps.config_dir or Path.cwd())
        except ValueError as error:
            raise ConfigError(f"connector {settings.name!r} (citizen_store): option {error}") from None
    checker = RevocationChecker(revocation, deps.metrics_registry)
    return CitizenStoreConnector(settings, anchors, deps.rest_client, checker)
