"""Data providers (agency systems the bus calls: SOAP or REST registries) and how calls to them fail.

A provider call either returns plain data or raises a :class:`ProviderError`. Each error says
whether trying again may help (``retryable``): the provider was down, overloaded or slow, versus
it understood the request and refused it. Only retryable errors are ever retried, and only they
count against the provider's circuit breaker (a provider that answers "no such citizen" is up).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from router.errors import LienthongError
from router.subscriptions import BreakerPolicy


class ProviderError(LienthongError):
    """A call to a provider failed."""

    code = "provider_error"
    status = 502
    title = "The data provider failed"
    retryable = False

    def __init__(self, detail: str, *, provider: str = "") -> None:
        super().__init__(detail)
        self.provider = provider


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, answered 502/503/504, or its circuit is open."""

    code = "provider_unavailable"
    status = 503
    title = "The data provider is unavailable"
    retryable = True

    def __init__(self, detail: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(detail, provider=provider)
        self.http_status = status


class CircuitOpen(ProviderUnavailable):
    """The provider failed repeatedly; calls are refused without trying until the pause is over."""

    code = "provider_circuit_open"
    # The call was never made: retrying within the same call cannot help.
    retryable = False


class ProviderAuthUnavailable(ProviderUnavailable):
    """The token endpoint of the provider (or of the integration platform in front of it) could not
    be reached or answered 502/503/504: no call was made to the provider."""

    code = "provider_auth_unavailable"
    title = "The data provider's token endpoint is unavailable"


class ProviderAuthFailed(ProviderError):
    """The bus could not authenticate to the provider: its token endpoint refused the client
    credentials or answered something that is not a token, or the provider refused a fresh token."""

    code = "provider_auth_failed"
    status = 502
    title = "The bus could not authenticate to the data provider"


class ProviderTimeout(ProviderError):
    """The provider did not answer within the call's timeout or deadline."""

    code = "provider_timeout"
    status = 504
    title = "The data provider did not answer in time"
    retryable = True


class ProviderFault(ProviderError):
    """The provider answered with an error of its own: a SOAP fault, or an HTTP 4xx/5xx with a
    body. ``fault_code`` is the provider's code (SOAP faultcode or the HTTP status), ``message``
    its text, ``fault_detail`` the detail it gave, if any.

    The provider's text may name the person the request is about (a registry writing "no record
    for Nguyen Van A, 001099012345"), so ``detail``, which the requester reads, says only which
    provider refused, its fault code and whether trying again may help; the text is for the
    operator (:attr:`operator_text`, in the server's log)."""

    code = "provider_fault"
    status = 502
    title = "The data provider refused the request"

    def __init__(
        self,
        fault_code: str,
        message: str,
        *,
        fault_detail: str | None = None,
        retryable: bool = False,
        provider: str = "",
    ) -> None:
        # a fault code is a name (a QName's local part, an HTTP status); anything else is the
        # provider's text too, and so is a run of digits long enough to be an identifier (a
        # personal ID, a tax code, a phone number: ``Client.001099012345``)
        plain = _FAULT_CODE.fullmatch(fault_code) and not _IDENTIFIER_DIGITS.search(fault_code)
        shown = fault_code if plain else "(not a plain code)"
        again = "may pass" if retryable else "not retryable"
        super().__init__(
            f"{provider or 'the provider'} refused the request: fault {shown} ({again})", provider=provider
        )
        self.fault_code = fault_code
        self.message = message
        self.fault_detail = fault_detail
        self.retryable = retryable

    @property
    def operator_text(self) -> str:
        """The provider's own text for the operator's log: at most :data:`MAX_OPERATOR_TEXT`
        characters, each control character (a line break that would forge a log line, a
        terminal escape) a space."""
        text = _CONTROL.sub(" ", self.message)
        return text if len(text) <= MAX_OPERATOR_TEXT else text[:MAX_OPERATOR_TEXT] + "..."


MAX_OPERATOR_TEXT = 300
_FAULT_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_IDENTIFIER_DIGITS = re.compile(r"[0-9]{5,}")  # codes number errors in at most four digits
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class InvalidProviderReply(ProviderError):
    """The provider's reply is not what its contract says (bad XML, schema violation...)."""

    code = "invalid_provider_reply"
    status = 502
    title = "The data provider's reply is invalid"


class InvalidProviderContract(ProviderError):
    """The provider's own description (a configured WSDL or OpenAPI document) cannot be used: it
    is hostile (a DTD, a document from another host, too large) or lacks what the configuration
    names (a service, a port, an operation)."""

    code = "invalid_provider_contract"
    status = 502
    title = "The data provider's contract cannot be used"


class InvalidProviderRequest(ProviderError):
    """The bus's own request does not fit the provider's contract (a missing or unknown field)."""

    code = "invalid_provider_request"
    status = 400
    title = "The request does not fit the data provider's contract"


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """How one provider is called.

    ``timeout_s`` bounds each attempt; ``deadline_s`` the whole call, retries and pauses included
    (a caller's own deadline, if sooner, wins). Back-off is exponential with full jitter.
    """

    timeout_s: float = 5.0
    deadline_s: float = 15.0
    max_attempts: int = 3
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)


class SubjectNotFound(ProviderError):
    """The provider holds no record for the identifiers asked (no such citizen, enterprise, plate)."""

    code = "subject_not_found"
    status = 404
    title = "The data provider holds no such record"


def _request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What every lookup in an agency's registry carries: why the bus asks, and until when.

    ``procedure`` is the code of the procedure the data is for (the registries log it as MaDVC),
    ``request_id`` the lookup's id (MaYeuCau), ``deadline`` an absolute ``time.monotonic()`` by
    which the answer is needed (propagated to the provider call), ``traceparent`` the W3C trace
    context passed on to the provider (HTTP ``traceparent`` header)."""

    procedure: str = ""
    request_id: str = field(default_factory=_request_id)
    dossier: str = ""  # the dossier the data is for
    official: str = ""  # who, in the requesting system, asks
    requester: str = ""  # the requesting system
    deadline: float | None = None
    # W3C trace context of the event or request that caused the lookup; sent to the provider
    traceparent: str | None = None

    def soap_header(self, agency_code: str) -> dict[str, str]:
        """The request header fields shared by the population and transport registries."""
        return {"MaYeuCau": self.request_id, "MaDVC": self.procedure, "MaDonVi": agency_code}


# The lookup in progress (set by the evidence service around a provider's fetch): what the
# adapters may add to its calls, such as an integration platform's request id header.
current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


@dataclass(frozen=True, slots=True)
class DataRequest:
    """One dataset asked of a provider: ``key`` holds the subject's identifiers by name
    (``personal_id``, ``tax_code``, ``plate``, ``result_code``...), as the dataset catalogue keys it."""

    dataset: str
    key: Mapping[str, str]
    context: RequestContext = field(default_factory=RequestContext)


class DataProvider(Protocol):
    """The port of the once-only exchange: an agency system that answers dataset requests.

    ``fetch`` returns the dataset's record as plain JSON-like data (checked against the dataset's
    response schema by the caller) or raises :class:`ProviderError` (:class:`SubjectNotFound` when
    the provider has no such record)."""

    @property
    def name(self) -> str: ...

    @property
    def datasets(self) -> frozenset[str]:
        """The datasets this provider answers."""
        ...

    async def fetch(self, request: DataRequest) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


UNKNOWN_CIRCUIT = "unknown"


@runtime_checkable
class HasCircuit(Protocol):
    """A provider (or the client under it) that calls through a circuit breaker."""

    @property
    def circuit_state(self) -> str:
        """``closed``, ``half_open`` or ``open``."""
        ...


def circuit_state_of(provider: object) -> str:
    """The state of the circuit breaker in front of ``provider``; ``unknown`` if it keeps none."""
    return provider.circuit_state if isinstance(provider, HasCircuit) else UNKNOWN_CIRCUIT
