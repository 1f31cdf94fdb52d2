"""A small SOAP 1.1 server for the simulators: serves its WSDL and XSDs, parses requests with
the hardened parser, dispatches on the Body element's local name, answers faults as SOAP does.

Operations take the request element and return the reply element, or raise :class:`SoapFault`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from adapters.xml import XmlLimits, XmlRejected, parse_xml

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XML_TYPE = "text/xml; charset=utf-8"
REQUEST_LIMITS = XmlLimits(max_bytes=256 * 1024, max_depth=32)
ADDRESS_PLACEHOLDER = "http://127.0.0.1:0/"
# The simulated registries' published contracts (WSDL and XSD), package data of this package (an
# installed wheel or the container image has them too); the example configuration names these
# very files, so a simulator serves the contract the bus is configured with.
CONTRACTS = Path(str(resources.files(__package__ or "simulators").joinpath("contracts")))

Operation = Callable[[etree._Element], etree._Element]


class SoapFault(Exception):
    def __init__(self, code: str, message: str, detail: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code  # "Client" or "Server"
        self.message = message
        self.detail = detail


def child_text(element: etree._Element, name: str) -> str | None:
    """The text of the first child called ``name`` (any namespace), or ``None``."""
    for child in element:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return (child.text or "").strip()
    return None


def required(element: etree._Element, name: str) -> str:
    value = child_text(element, name)
    if not value:
        raise SoapFault("Client", "INVALID_INPUT", {"field": name, "reason": "required"})
    return value


_Record = TypeVar("_Record")


def registry_record(
    field: str,
    value: str,
    find: Callable[[str], _Record | None],
    *,
    valid: Callable[[str], bool],
    invalid: str,
) -> _Record:
    """The record a registry simulator (population, road transport) holds under ``value``, the
    request's ``field``. Refused as the real registries refuse: a ``Client`` fault
    ``INVALID_INPUT`` (``invalid`` says why) if ``valid`` rejects the value, ``KHONG_TIM_THAY``
    if ``find`` has no record."""
    if not valid(value):
        raise SoapFault("Client", "INVALID_INPUT", {"field": field, "reason": invalid})
    record = find(value)
    if record is None:
        raise SoapFault("Client", "KHONG_TIM_THAY", {field: value})
    return record


def build(namespace: str, name: str, value: Any) -> etree._Element:
    """An element from plain data: a mapping gives children in its order, a list repeats the
    element, ``None`` values are left out, scalars become text."""
    element = etree.Element(etree.QName(namespace, name))
    _fill(element, namespace, value)
    return element


def _fill(element: etree._Element, namespace: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if item is None:
                continue
            for one in item if isinstance(item, list) else [item]:
                child = etree.SubElement(element, etree.QName(namespace, key))
                _fill(child, namespace, one)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def envelope(content: etree._Element) -> bytes:
    env = etree.Element(etree.QName(SOAP_ENV, "Envelope"), nsmap={"soap": SOAP_ENV})
    body = etree.SubElement(env, etree.QName(SOAP_ENV, "Body"))
    body.append(content)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def fault_envelope(fault: SoapFault) -> bytes:
    element = etree.Element(etree.QName(SOAP_ENV, "Fault"))
    etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.message
    if fault.detail:
        detail = etree.SubElement(element, "detail")
        for key, value in fault.detail.items():
            etree.SubElement(detail, key).text = value
    return envelope(element)


def _usernames(header: etree._Element | None) -> tuple[str | None, str | None]:
    if header is None:
        return None, None
    token = header.find(f".//{{{WSSE}}}UsernameToken")
    if token is None:
        return None, None
    return token.findtext(f"{{{WSSE}}}Username"), token.findtext(f"{{{WSSE}}}Password")


def soap_routes(
    path: str,
    wsdl: Path,
    operations: Mapping[str, Operation],
    *,
    xsds: Sequence[Path] = (),
    credentials: tuple[str, str] | None = None,
) -> list[BaseRoute]:
    """Routes serving ``POST path`` (the operations), ``GET path?wsdl`` (the WSDL, its address
    set to where it is served) and ``GET /<name>.xsd`` for each XSD."""
    wsdl_text = wsdl.read_text(encoding="utf-8")

    async def call(request: Request) -> Response:
        if request.method == "GET":
            if "wsdl" not in request.query_params:
                return Response("add ?wsdl", status_code=404)
            address = str(request.url.replace(query=""))
            return Response(wsdl_text.replace(ADDRESS_PLACEHOLDER, address), media_type=XML_TYPE)
        try:
            content = _dispatch(await request.body(), operations, credentials)
        except SoapFault as fault:
            return Response(fault_envelope(fault), status_code=500, media_type=XML_TYPE)
        return Response(envelope(content), media_type=XML_TYPE)

    routes: list[BaseRoute] = [Route(path, call, methods=["GET", "POST"])]
    for xsd in xsds:
        text = xsd.read_text(encoding="utf-8")

        async def schema(_: Request, text: str = text) -> Response:
            return Response(text, media_type=XML_TYPE)

        routes.append(Route(f"/{xsd.name}", schema, methods=["GET"]))
    return routes


def _dispatch(
    data: bytes, operations: Mapping[str, Operation], credentials: tuple[str, str] | None
) -> etree._Element:
    try:
        root = parse_xml(data, REQUEST_LIMITS)
    except XmlRejected as error:
        raise SoapFault("Client", "INVALID_XML", {"reason": error.reason}) from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("Client", "NOT_A_SOAP_1_1_ENVELOPE")
    if credentials is not None and _usernames(root.find(f"{{{SOAP_ENV}}}Header")) != credentials:
        raise SoapFault("Client", "UNAUTHENTICATED")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    request = next((e for e in body if isinstance(e.tag, str)), None) if body is not None else None
    if request is None:
        raise SoapFault("Client", "EMPTY_BODY")
    operation = operations.get(etree.QName(request).localname)
    if operation is None:
        raise SoapFault("Client", "UNKNOWN_OPERATION", {"element": etree.QName(request).localname})
    return operation(request)
