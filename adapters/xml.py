"""Hardened XML: the one place that parses XML from outside the bus.

Every XML document the bus reads (SOAP replies, SOAP requests at the simulators, XML replies of
REST providers) goes through :func:`parse_xml` or through zeep with :func:`zeep_settings`:

- no DTD at all: a ``<!DOCTYPE`` is refused before the root element is read, which rules out
  entity expansion (billion laughs, quadratic blow-up) and external entities or DTDs;
- entities are never resolved, nothing is fetched from the network or the file system;
- the size is checked before parsing, the nesting depth while parsing (libxml2's own depth cap
  is 256 without ``huge_tree``; ours is lower and configurable), and ``huge_tree`` stays off.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree
from zeep import Settings

from router.errors import LienthongError

TOO_LARGE = "too_large"
TOO_DEEP = "too_deep"
DTD_FORBIDDEN = "dtd_forbidden"
MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class XmlLimits:
    max_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64


DEFAULT_LIMITS = XmlLimits()


class XmlRejected(LienthongError):
    """An XML document was refused; ``reason`` is one of the constants of this module."""

    code = "xml_rejected"
    status = 400
    title = "The XML document was refused"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _parser_options() -> dict[str, Any]:
    return {
        "resolve_entities": False,
        "no_network": True,
        "huge_tree": False,
        "load_dtd": False,
        "dtd_validation": False,
        "remove_pis": True,
    }


def safe_parser() -> etree.XMLParser:
    """An lxml parser with the safe options, for trusted local files (XSDs, WSDLs of the repo).
    It does not refuse DTDs or check depth: documents from outside go through :func:`parse_xml`."""
    return etree.XMLParser(**_parser_options())


def parse_xml(data: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> etree._Element:
    """The root element of ``data``, or :class:`XmlRejected` with the reason."""
    if len(data) > limits.max_bytes:
        raise XmlRejected(TOO_LARGE, f"{len(data)} bytes, more than the {limits.max_bytes} allowed")
    depth = 0
    root: etree._Element | None = None
    try:
        events = etree.iterparse(io.BytesIO(data), events=("start", "end"), **_parser_options())
        for event, element in events:
            if event == "end":
                depth -= 1
                continue
            if root is None:
                root = element
                docinfo = element.getroottree().docinfo
                if docinfo.doctype or docinfo.internalDTD is not None:
                    raise XmlRejected(DTD_FORBIDDEN, "documents with a DOCTYPE are refused")
            depth += 1
            if depth > limits.max_depth:
                raise XmlRejected(TOO_DEEP, f"nested deeper than {limits.max_depth} elements")
    except etree.XMLSyntaxError as error:
        raise XmlRejected(MALFORMED, str(error)) from None
    if root is None:
        raise XmlRejected(MALFORMED, "no root element")
    return root


_ELEMENT_START = re.compile(rb"<[A-Za-z_:]")


def has_doctype(data: bytes) -> bool:
    """Whether ``data`` (ASCII-compatible encoding) declares a DTD before its root element: a
    cheap screen before handing a document to a parser we do not drive (zeep's)."""
    at = data.find(b"<!DOCTYPE")
    if at < 0:
        return False
    first = _ELEMENT_START.search(data)
    return first is None or first.start() > at


def zeep_settings(*, wsdl_imports: bool = False) -> Settings:
    """zeep's parse settings: strict, no DTDs, no entities, no external fetches.

    ``wsdl_imports`` lets a WSDL *loaded from a URL the configuration names* fetch the XSDs it
    imports (through the provider's own HTTP client, no redirects); replies never fetch anything.
    """
    return Settings(
        strict=True,
        xml_huge_tree=False,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=not wsdl_imports,
    )


def element_to_data(element: etree._Element) -> Any:
    """A parsed XML element as JSON-ready data, for providers that answer XML where JSON is
    wanted: a leaf is its text; an element with children is an object keyed by local name
    (a repeated name becomes a list); attributes are kept under ``@name``; namespaces dropped."""
    children = [child for child in element if isinstance(child.tag, str)]
    if not children and not element.attrib:
        return (element.text or "").strip()
    out: dict[str, Any] = {f"@{etree.QName(k).localname}": v for k, v in element.attrib.items()}
    if not children:
        text = (element.text or "").strip()
        if text:
            out["#text"] = text
        return out
    for child in children:
        name = etree.QName(child).localname
        value = element_to_data(child)
        if name not in out:
            out[name] = value
        elif isinstance(out[name], list):
            out[name].append(value)
        else:
            out[name] = [out[name], value]
    return out
