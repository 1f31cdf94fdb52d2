"""SOAP providers: zeep clients on an async httpx transport, behind the bus's call guards.

One :class:`SoapProvider` per endpoint. It loads the WSDL once (the repository's WSDLs are cached
per location across providers, a configured connector's per provider; the sync load runs in a
worker thread so the event loop never blocks),
then :meth:`SoapProvider.call` sends one operation with a dict payload and returns plain data
(dicts, lists, scalars). Around each call (:mod:`router.provider_calls`): a timeout per attempt,
a deadline for the whole call, tenacity retries for transient failures only, and the endpoint's
circuit breaker.

Failures become :mod:`router.providers` errors:

- connection errors, timeouts, HTTP 502/503/504 -> ``ProviderUnavailable`` / ``ProviderTimeout``
  (retried);
- a SOAP fault -> ``ProviderFault`` (code, message, detail), retried only when the endpoint's
  configuration lists its code or string in ``retryable_faults`` and it is not a client fault;
- a reply that is too large, has a DTD, is not XML or fails the reply XSD -> ``InvalidProviderReply``;
- a payload that does not fit the WSDL -> ``InvalidProviderRequest``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import zeep
import zeep.exceptions
import zeep.helpers
from lxml import etree
from requests import Response
from zeep.plugins import Plugin
from zeep.proxy import AsyncServiceProxy
from zeep.transports import AsyncTransport
from zeep.wsdl import Document
from zeep.wsdl.utils import etree_to_string
from zeep.wsse.username import UsernameToken

from adapters import reply_sizes
from adapters.outbound_auth import OutboundAuth
from adapters.tls import client_tls
from adapters.xml import DTD_FORBIDDEN, TOO_LARGE, XmlRejected, has_doctype, safe_parser, zeep_settings
from router import tracing
from router.provider_calls import GuardedCalls
from router.providers import (
    CallPolicy,
    InvalidProviderContract,
    InvalidProviderReply,
    InvalidProviderRequest,
    ProviderAuthFailed,
    ProviderError,
    ProviderFault,
    ProviderTimeout,
    ProviderUnavailable,
)

UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
# SOAP 1.1 "Client" and SOAP 1.2 "Sender": the request is at fault, so sending it again cannot help.
_CLIENT_FAULTS = frozenset({"client", "sender"})
DEFAULT_MAX_REPLY_BYTES = 4 * 1024 * 1024

log = logging.getLogger("lienthong.providers")
# a WSDL and each document it imports, at most (a hostile document may be huge)
DEFAULT_MAX_CONTRACT_BYTES = 4 * 1024 * 1024
# the HTTP headers of the call in progress: its trace context and credentials (see SoapProvider.call)
_call_headers: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "soap_headers", default=None
)
# where the call in progress keeps its reply's Body element, when its caller asks for it (a list:
# an attempt runs in a copy of the caller's context, and appends to the same list)
_kept_replies: contextvars.ContextVar[list[etree._Element] | None] = contextvars.ContextVar(
    "soap_kept_replies", default=None
)


@dataclass(frozen=True, slots=True)
class SoapEndpoint:
    """One SOAP provider endpoint.

    ``wsdl`` is a file path or an http(s) URL; ``address`` overrides the WSDL's ``soap:address``
    (a WSDL file describes the service, the configuration says where it runs). ``binding`` picks
    the binding (a QName, ``{namespace}name``) when the WSDL has several; ``service`` and
    ``port`` pick a service's port by name instead.

    ``guarded_contract``: the WSDL comes from outside the repository (a configured connector's):
    it and each document it imports must come from the WSDL's own folder (a file) or its own
    host (a URL), are refused past ``max_contract_bytes`` or with a DTD, and a refusal is an
    ``InvalidProviderContract``.
    """

    name: str
    wsdl: str
    address: str | None = None
    binding: str | None = None
    policy: CallPolicy = field(default_factory=CallPolicy)
    retryable_faults: frozenset[str] = frozenset()
    username: str | None = None  # WS-Security UsernameToken
    password: str | None = None
    # any other credentials (adapters.outbound_auth): headers on each request, a token renewed
    # after a 401, a UsernameToken
    auth: OutboundAuth | None = None
    client_cert: tuple[str, str] | None = None  # (certificate file, key file) for mutual TLS
    ca_file: str | None = None
    reply_xsd: str | None = None  # validate each reply's body element against this schema
    # let a WSDL served over http(s) fetch the XSDs it imports (only from the WSDL's loading)
    wsdl_imports: bool = False
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
    service: str | None = None
    port: str | None = None
    guarded_contract: bool = False
    max_contract_bytes: int = DEFAULT_MAX_CONTRACT_BYTES


# WSDL documents of the repository by location: parsing a big WSDL takes long, and every
# provider of one agency's service shares it. The lock keeps two threads from loading one WSDL
# twice. A configured connector's WSDL (guarded_contract) is not kept here: each provider loads
# its own, so that a connector built again (a reload that changes its entry) reads the WSDL as
# its file or its host serves it then, not as it was when the process first loaded it.
_wsdl_cache: dict[str, Any] = {}
_wsdl_lock = threading.Lock()


def is_http_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def _load_wsdl(location: str, transport: Any, imports: bool, shared: bool = True) -> Any:
    if not shared:
        return Document(location, transport, settings=zeep_settings(wsdl_imports=imports))
    with _wsdl_lock:
        document = _wsdl_cache.get(location)
        if document is None:
            document = Document(location, transport, settings=zeep_settings(wsdl_imports=imports))
            _wsdl_cache[location] = document
        return document


class ContractSources:
    """Where the documents of a configured WSDL may come from: the WSDL's folder when it is a
    file, its scheme, host and port when it is a URL; each at most ``limit`` bytes, none with a
    DTD."""

    def __init__(self, location: str, limit: int) -> None:
        self.limit = limit
        parts = urlsplit(location)
        self.origin = (
            (parts.scheme, parts.hostname, parts.port) if parts.scheme in ("http", "https") else None
        )
        self.folder = None if self.origin is not None else Path(location).resolve().parent

    def check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https"):
            if (parts.scheme, parts.hostname, parts.port) != self.origin:
                raise InvalidProviderContract(
                    f"the WSDL imports a document from {parts.hostname}, which is not the service's host"
                )
            return
        if self.folder is None:
            raise InvalidProviderContract("the WSDL, served by URL, imports a local file")
        path = Path(parts.path if parts.scheme == "file" else url).resolve()
        if not path.is_relative_to(self.folder):
            raise InvalidProviderContract("the WSDL imports a file from outside its own folder")

    def check_content(self, content: bytes) -> bytes:
        if len(content) > self.limit:
            raise InvalidProviderContract(f"a document of the WSDL is larger than {self.limit} bytes")
        if has_doctype(content):
            raise InvalidProviderContract("a document of the WSDL has a DTD (DOCTYPE), which is refused")
        return content


class _WsdlUnauthorized(Exception):
    """The WSDL's host answered 401 to a document's GET sent with the endpoint's credentials."""


class _Transport(AsyncTransport):
    """zeep's httpx transport, reading at most ``max_reply_bytes`` of a reply, with the
    endpoint's credentials' headers on each request (and one more try after a 401 with a
    renewed token). The WSDL's documents are read in a worker thread, which cannot await a
    token: :meth:`SoapProvider._open` puts the credentials' headers in ``wsdl_headers`` first,
    sent with each document from the WSDL's own host (a platform's gateway asks its token of
    ``?wsdl`` too)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        wsdl_client: httpx.Client,
        max_reply_bytes: int,
        auth: OutboundAuth | None = None,
        name: str = "",
        sources: ContractSources | None = None,
    ) -> None:
        super().__init__(client=client, wsdl_client=wsdl_client)
        self._max = max_reply_bytes
        self._auth = auth
        self._name = name
        self._sources = sources
        self.wsdl_headers: Mapping[str, str] = {}

    def load(self, url: str) -> bytes:
        """A document of the WSDL (the WSDL, an imported XSD), from where it may come."""
        sources = self._sources
        if sources is None:
            content: bytes = super().load(url)
            return content
        sources.check_url(url)
        if urlsplit(url).scheme in ("http", "https"):
            body = bytearray()
            # check_url has kept the document on the WSDL's own host: the credentials may go there
            with self.wsdl_client.stream("GET", url, headers=dict(self.wsdl_headers)) as reply:
                if reply.status_code == 401 and self.wsdl_headers:
                    raise _WsdlUnauthorized
                if reply.status_code != 200:
                    raise InvalidProviderContract(
                        f"the WSDL's document {url} answered HTTP {reply.status_code}"
                    )
                for chunk in reply.iter_bytes():
                    body += chunk
                    if len(body) > sources.limit:
                        break
            return sources.check_content(bytes(body))
        path = urlsplit(url).path if url.startswith("file:") else url
        if os.path.getsize(path) > sources.limit:
            raise InvalidProviderContract(f"a document of the WSDL is larger than {sources.limit} bytes")
        with open(path, "rb") as file:
            return sources.check_content(file.read())

    async def post_xml(self, address: str, envelope: etree._Element, headers: Mapping[str, str]) -> Response:
        message = etree_to_string(envelope)
        headers = {**headers, **(_call_headers.get() or {})}
        auth = self._auth
        if auth is None:
            return await self._post(address, message, headers)
        response = await self._post(address, message, {**headers, **await auth.headers()})
        if response.status_code == 401 and await auth.refresh_after_unauthorized():
            response = await self._post(address, message, {**headers, **await auth.headers()})
            if response.status_code == 401:
                raise ProviderAuthFailed(f"{self._name}: the provider refused a fresh token (HTTP 401)")
        return response

    async def _post(self, address: str, message: bytes, headers: Mapping[str, str]) -> Response:
        async with self.client.stream("POST", address, content=message, headers=headers) as reply:
            body = bytearray()
            async for chunk in reply.aiter_bytes():
                body += chunk
                if len(body) > self._max:
                    raise XmlRejected(TOO_LARGE, f"the reply is larger than {self._max} bytes")
        reply_sizes.note(len(body))
        if has_doctype(bytes(body)):
            raise XmlRejected(DTD_FORBIDDEN, "documents with a DOCTYPE are refused")
        response = Response()
        response._content = bytes(body)
        response.status_code = reply.status_code
        response.headers = reply.headers  # type: ignore[assignment]
        response.encoding = reply.encoding
        return response


class _XsdCheck(Plugin):
    """Validates the element in each reply's SOAP Body (faults excepted) against an XSD."""

    def __init__(self, schema: etree.XMLSchema) -> None:
        self._schema = schema

    def ingress(self, envelope: etree._Element, http_headers: Any, operation: Any) -> tuple[Any, Any]:
        body = next(
            (e for e in envelope if isinstance(e.tag, str) and etree.QName(e).localname == "Body"), None
        )
        for element in body if body is not None else ():
            if (
                isinstance(element.tag, str)
                and etree.QName(element).localname != "Fault"
                and not self._schema.validate(element)
            ):
                # where, not what: libxml2's message quotes the offending value, and the reply
                # may be about a person whom the requester is not allowed to see in full
                error = self._schema.error_log.last_error
                raise InvalidProviderReply(
                    f"the reply does not match its schema at {error.path} (line {error.line})"
                )
        return envelope, http_headers


class _KeepReply(Plugin):
    """Keeps each reply's Body element for a caller that reads it with XPath."""

    def ingress(self, envelope: etree._Element, http_headers: Any, operation: Any) -> tuple[Any, Any]:
        kept = _kept_replies.get()
        if kept is not None:
            body = next(
                (e for e in envelope if isinstance(e.tag, str) and etree.QName(e).localname == "Body"), None
            )
            kept.append(body if body is not None else envelope)
        return envelope, http_headers


def load_xsd(path: str | Path) -> etree.XMLSchema:
    """An XSD of the repository (trusted, local), parsed without network access."""
    return etree.XMLSchema(etree.parse(str(path), safe_parser()))


class SoapProvider:
    def __init__(self, endpoint: SoapEndpoint) -> None:
        self.endpoint = endpoint
        self.guard = GuardedCalls(endpoint.name, endpoint.policy)
        verify = client_tls(endpoint.client_cert, endpoint.ca_file)
        timeout = httpx.Timeout(endpoint.policy.timeout_s)
        self._http = httpx.AsyncClient(
            verify=verify,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        )
        self._wsdl_http = httpx.Client(
            verify=verify, timeout=timeout, trust_env=False, follow_redirects=False
        )
        sources = (
            ContractSources(endpoint.wsdl, endpoint.max_contract_bytes) if endpoint.guarded_contract else None
        )
        self._transport = _Transport(
            self._http, self._wsdl_http, endpoint.max_reply_bytes, endpoint.auth, endpoint.name, sources
        )
        self._service: Any = None
        self._opening = asyncio.Lock()

    @property
    def circuit_state(self) -> str:
        return self.guard.circuit_state

    async def open(self) -> None:
        """Loads the WSDL (in a worker thread; once, however many calls wait for it)."""
        if self._service is not None:
            return
        async with self._opening:
            if self._service is None:
                await self._open()

    async def _open(self) -> None:
        endpoint = self.endpoint
        try:
            document = await self._document()
        except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden) as error:
            raise InvalidProviderContract(
                f"{endpoint.name}: the WSDL has a DTD or entities ({error})"
            ) from None
        except (zeep.exceptions.Error, httpx.HTTPError, OSError, etree.XMLSyntaxError) as error:
            raise ProviderUnavailable(
                f"{endpoint.name}: cannot load the WSDL {endpoint.wsdl}: {error}"
            ) from error
        plugins: list[Plugin] = [_KeepReply()]
        if endpoint.reply_xsd:
            try:
                plugins.append(_XsdCheck(load_xsd(endpoint.reply_xsd)))
            except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as error:
                raise InvalidProviderContract(
                    f"{endpoint.name}: the reply XSD {endpoint.reply_xsd} cannot be used ({type(error).__name__})"
                ) from None
        wsse = endpoint.auth.soap_security() if endpoint.auth is not None else None
        if wsse is None and endpoint.username is not None:
            wsse = UsernameToken(endpoint.username, endpoint.password)
        client = zeep.AsyncClient(
            document, transport=self._transport, settings=zeep_settings(), wsse=wsse, plugins=plugins
        )
        if endpoint.service is not None or endpoint.port is not None:
            self._service = self._port(client, document)
            return
        if endpoint.binding is None and endpoint.address is None:
            self._service = client.service
            return
        binding = endpoint.binding or next(iter(document.bindings))
        if binding not in document.bindings:
            raise ProviderError(f"{endpoint.name}: the WSDL has no binding {binding}")
        address = endpoint.address or client.bind()._binding_options["address"]
        self._service = AsyncServiceProxy(client, document.bindings[binding], address=address)

    async def _document(self) -> Any:
        """The WSDL's document, loaded in a worker thread; one from a URL is asked with the
        endpoint's credentials, renewed once after a 401."""
        endpoint = self.endpoint
        try:
            return await self._load_document()
        except _WsdlUnauthorized:
            if endpoint.auth is not None and await endpoint.auth.refresh_after_unauthorized():
                try:
                    return await self._load_document()
                except _WsdlUnauthorized:
                    pass
        raise ProviderAuthFailed(f"{endpoint.name}: the WSDL's host refused the credentials (HTTP 401)")

    async def _load_document(self) -> Any:
        endpoint = self.endpoint
        if endpoint.auth is not None and endpoint.guarded_contract and is_http_url(endpoint.wsdl):
            self._transport.wsdl_headers = dict(await endpoint.auth.headers())
        return await asyncio.to_thread(
            _load_wsdl,
            endpoint.wsdl,
            self._transport,
            endpoint.wsdl_imports or endpoint.guarded_contract,
            not endpoint.guarded_contract,
        )

    def _port(self, client: Any, document: Any) -> Any:
        """The proxy of the configured service and port (the only one of each, when not named)."""
        endpoint = self.endpoint
        services = document.services
        service = services.get(endpoint.service) if endpoint.service else None
        if service is None:
            if endpoint.service is not None or len(services) != 1:
                raise InvalidProviderContract(
                    f"{endpoint.name}: the WSDL has no service {endpoint.service!r}; it has {', '.join(services) or 'none'}"
                )
            service = next(iter(services.values()))
        ports = service.ports
        port = ports.get(endpoint.port) if endpoint.port else None
        if port is None:
            if endpoint.port is not None or len(ports) != 1:
                raise InvalidProviderContract(
                    f"{endpoint.name}: the service {service.name} has no port {endpoint.port!r}; it has {', '.join(ports)}"
                )
            port = next(iter(ports.values()))
        address = endpoint.address or port.binding_options["address"]
        return AsyncServiceProxy(client, port.binding, address=address)

    async def operations(self) -> dict[str, Any]:
        """The operations of the bound port, by name (zeep's operation objects), the WSDL loaded."""
        await self.open()
        return dict(self._service._binding._operations)

    async def call(
        self,
        operation: str,
        payload: Mapping[str, Any],
        *,
        deadline: float | None = None,
        traceparent: str | None = None,
        keep_reply: list[etree._Element] | None = None,
    ) -> Any:
        """Calls ``operation`` with ``payload`` (the request element's fields) and returns the
        reply as plain data. ``deadline`` is an absolute ``time.monotonic()`` value;
        ``traceparent`` (W3C trace context) is passed on as an HTTP header; ``keep_reply`` receives the reply's SOAP Body element (the
        last one is the answer's, after retries), for XPath."""
        # zeep has no per-call HTTP headers: the transport reads those of the call from a context
        # variable, reset afterwards so they do not leak into the caller's context
        extra: dict[str, str] = {}
        if traceparent is not None and tracing.parse(traceparent) is not None:
            extra[tracing.HEADER] = traceparent
        token = _call_headers.set(extra)
        kept = _kept_replies.set(keep_reply)
        try:
            return await self._call(operation, payload, deadline)
        finally:
            _kept_replies.reset(kept)
            _call_headers.reset(token)

    async def _call(self, operation: str, payload: Mapping[str, Any], deadline: float | None) -> Any:
        await self.open()
        try:
            method = self._service[operation]
        except AttributeError:
            raise InvalidProviderRequest(f"{self.endpoint.name}: no operation {operation!r}") from None

        async def attempt() -> Any:
            return await self._attempt(method, payload)

        return await self.guard.call(attempt, deadline=deadline)

    async def _attempt(self, method: Any, payload: Mapping[str, Any]) -> Any:
        name = self.endpoint.name
        try:
            result = await method(**payload)
        except zeep.exceptions.Fault as fault:
            raise self._fault(fault) from None
        except zeep.exceptions.TransportError as error:
            raise _transport_error(name, error) from None
        except (zeep.exceptions.ValidationError, TypeError) as error:
            raise InvalidProviderRequest(f"{name}: {error}") from None
        except XmlRejected as error:
            raise InvalidProviderReply(f"{name}: {error.detail}", provider=name) from None
        except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden) as error:
            raise InvalidProviderReply(f"{name}: the reply has a DTD or entities ({error})") from None
        except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError) as error:
            raise InvalidProviderReply(f"{name}: the reply is not valid SOAP: {_short(error)}") from None
        except httpx.TimeoutException as error:
            raise ProviderTimeout(f"{name}: {type(error).__name__}") from None
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"{name}: {type(error).__name__}: {error}") from None
        return zeep.helpers.serialize_object(result, dict)

    def _fault(self, fault: zeep.exceptions.Fault) -> ProviderFault:
        local = _local(fault.code or "Server")
        message = str(fault.message or "")
        detail = None
        if fault.detail is not None:
            detail = etree.tostring(fault.detail, encoding="unicode")
        client_fault = local.lower() in _CLIENT_FAULTS
        # SOAP 1.2: the subcode says which fault it is (the code only whose: Sender or Receiver)
        subcodes = [_local(c) for c in fault.subcodes or ()]
        code = subcodes[-1] if subcodes else local
        configured = self.endpoint.retryable_faults
        retryable = not client_fault and bool({local, code, message.strip()} & configured)
        refused = ProviderFault(
            code, message, fault_detail=detail, retryable=retryable, provider=self.endpoint.name
        )
        # the fault string may name the person asked about: the operator's log has it, the
        # requester's problem only the code (router.providers.ProviderFault)
        log.info("%s answered fault %s: %s", self.endpoint.name, code, refused.operator_text)
        return refused

    async def aclose(self) -> None:
        if self.endpoint.auth is not None:
            await self.endpoint.auth.aclose()
        await self._http.aclose()
        self._wsdl_http.close()


def _local(code: object) -> str:
    """The local name of a fault code (``soap:Client``, ``{ns}Sender``, a QName)."""
    text = code.localname if isinstance(code, etree.QName) else str(code)
    return text.rsplit(":", 1)[-1].rsplit("}", 1)[-1]


def _transport_error(name: str, error: zeep.exceptions.TransportError) -> ProviderError:
    status = int(error.status_code or 0)
    if status in UNAVAILABLE_STATUSES:
        return ProviderUnavailable(f"{name}: HTTP {status}", status=status)
    if status == 200:
        # zeep's message quotes the reply, which may be about a person
        return InvalidProviderReply(f"{name}: the reply (HTTP 200) could not be read as SOAP")
    return ProviderFault(str(status), f"HTTP {status} without a SOAP fault", retryable=False, provider=name)


def _short(error: object, limit: int = 300) -> str:
    # zeep quotes whole replies in its messages: keep errors (and logs) free of their content
    text = str(error)
    return text if len(text) <= limit else text[:limit] + "..."
