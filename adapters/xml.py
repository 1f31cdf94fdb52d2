"""Hardened XML: the one place that parses XML from outside the bus.

Every XML document the bus reads (SOAP replies, SOAP requests at the simulators, XML replies of
REST providers) goes through :func:`parse_xml` or through zeep with :func:`zeep_settings`:

- no DTD at all: a ``<!DOCTYPE`` is refused before any parser sees the document, which rules out
  entity expansion (billion laughs, quadratic blow-up) and external entities or DTDs. The prolog
  (what comes before the root element: the XML declaration, comments, processing instructions)
  is read by :func:`doctype_in_prolog` in the document's own encoding, found as an XML parser
  finds it (a byte-order mark, the first bytes' pattern, the declaration's ``encoding``), so the
  refusal does not depend on the encoding, on what precedes the DOCTYPE, or on the libxml2
  version; a declared encoding Python does not know is refused as malformed;
- entities are never resolved, nothing is fetched from the network or the file system;
- the size is checked before parsing, the nesting depth while parsing (libxml2's own depth cap
  is 256 without ``huge_tree``; ours is lower and configurable), and ``huge_tree`` stays off.
"""

from __future__ import annotations

import codecs
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
    if doctype_in_prolog(data):
        raise XmlRejected(DTD_FORBIDDEN, "documents with a DOCTYPE are refused")
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
                if docinfo.doctype or docinfo.internalDTD is not None:  # a second line of defence
                    raise XmlRejected(DTD_FORBIDDEN, "documents with a DOCTYPE are refused")
            depth += 1
            if depth > limits.max_depth:
                raise XmlRejected(TOO_DEEP, f"nested deeper than {limits.max_depth} elements")
    except etree.XMLSyntaxError as error:
        raise XmlRejected(MALFORMED, str(error)) from None
    if root is None:
        raise XmlRejected(MALFORMED, "no root element")
    return root


# The first four bytes of a document without a byte-order mark, and the encoding family they
# announce (XML 1.0, appendix F.1); anything else is read as ASCII-compatible until its
# declaration says otherwise.
_FAMILY_BY_FIRST_BYTES = {
    b"\x00\x00\x00\x3c": "utf-32-be",
    b"\x3c\x00\x00\x00": "utf-32-le",
    b"\x00\x3c\x00\x3f": "utf-16-be",
    b"\x3c\x00\x3f\x00": "utf-16-le",
    b"\x4c\x6f\xa7\x94": "cp037",  # "<?xm" in EBCDIC
}
# Longest first: the UTF-32 little-endian mark begins with UTF-16's.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_DECLARED_ENCODING = re.compile(r"""<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']""")
_PROLOG_CHUNK = 4096
_DECLARATION_BYTES = 1024  # room for a declaration with generous white space
_XML_SPACE = " \t\r\n"


def _document_encoding(data: bytes) -> tuple[str, int]:
    """The codec that reads ``data`` and where its text starts (after a byte-order mark)."""
    for mark, codec in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return codec, len(mark)
    family = _FAMILY_BY_FIRST_BYTES.get(data[:4], "utf-8")
    head = data[:_DECLARATION_BYTES].decode(family, errors="replace")
    declared = _DECLARED_ENCODING.match(head)
    if declared is None or family.startswith(("utf-16", "utf-32")):
        return family, 0
    name = declared.group(1)
    info: codecs.CodecInfo | None
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    # Only a text encoding reads a document (Python also names transforms such as zlib or rot13
    # codecs); one of UTF-16 or UTF-32 would have shown in the first bytes, and declared over
    # 8-bit bytes it is wrong: a parser reads them as they came.
    if info is None or not info._is_text_encoding:
        raise XmlRejected(MALFORMED, f"the declared encoding {name[:40]!r} is not supported")
    if info.name.startswith(("utf-16", "utf-32")):
        return family, 0
    return info.name, 0


def doctype_in_prolog(data: bytes) -> bool:
    """Whether ``data`` declares a DTD before its root element, in whatever encoding it is.

    Reads only the prolog, decoding it a chunk at a time: white space, the XML declaration,
    processing instructions and comments are stepped over; a ``<!DOCTYPE`` (or any other
    ``<!`` markup) is a DTD; the first element ends the search. Text a parser would refuse is
    left for the parser to refuse."""
    codec, start = _document_encoding(data)
    try:
        return _doctype_in_text(codecs.getincrementaldecoder(codec)(errors="replace"), data, start)
    except (UnicodeError, ValueError) as error:  # a codec that cannot read these bytes at all
        raise XmlRejected(
            MALFORMED, f"the document cannot be read as {codec}: {type(error).__name__}"
        ) from None


def _doctype_in_text(decoder: codecs.IncrementalDecoder, data: bytes, start: int) -> bool:
    """:func:`doctype_in_prolog` once the document's decoder is known."""
    text = ""  # the undecided rest of the prolog
    offset = start
    while True:
        final = offset >= len(data)
        if not final:
            text += decoder.decode(data[offset : offset + _PROLOG_CHUNK])
            offset += _PROLOG_CHUNK
        text = text.lstrip(_XML_SPACE)
        if len(text) < 4 and not final:
            continue  # too little to tell "<!--" from "<!" or "<?" from an element
        opening, closing = ("<?", "?>") if text.startswith("<?") else ("<!--", "-->")
        if text.startswith(opening):
            end = text.find(closing, len(opening))
            if end >= 0:
                text = text[end + len(closing) :]
                continue
            if final:
                return False  # unclosed: malformed, the parser says so
            # keep only what could still hold the start of the closing mark
            text = text[:4] + text[max(4, len(text) - len(closing) + 1) :]
            continue
        if text.startswith("<!"):
            return True
        if text or final:
            return False  # the root element, text before it, or nothing: the parser's to judge


def has_doctype(data: bytes) -> bool:
    """Whether ``data`` declares a DTD before its root element: the check before handing a
    document to a parser we do not drive (zeep's). A declared encoding Python does not know
    counts as a DTD here, since nothing can show that it has none."""
    try:
        return doctype_in_prolog(data)
    except XmlRejected:
        return True


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
