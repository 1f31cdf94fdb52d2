"""Hostile XML gets a clear refusal, with no entity expanded, no file read and no connection made.

What is asserted is the bus's own behaviour, not one libxml2 version's: a document with a DOCTYPE
is refused by the bus's prolog check before lxml is handed the document at all, in every encoding
and whatever precedes the DOCTYPE, with one of the documented reasons.
"""

from __future__ import annotations

import codecs
import os
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from adapters.xml import (
    DEFAULT_LIMITS,
    DTD_FORBIDDEN,
    MALFORMED,
    TOO_DEEP,
    TOO_LARGE,
    XmlLimits,
    XmlRejected,
    doctype_in_prolog,
    element_to_data,
    has_doctype,
    parse_xml,
)

DOCUMENTED_REASONS = {TOO_LARGE, TOO_DEEP, DTD_FORBIDDEN, MALFORMED}

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""


def quadratic_blowup() -> bytes:
    # one 50 kB entity referenced 2,000 times: 100 MB once expanded, 150 kB on the wire
    entity = "A" * 50_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE kaboom [<!ENTITY a "{entity}">]><kaboom>{"&a;" * 2000}</kaboom>'
    ).encode()


def rejected(data: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> XmlRejected:
    with pytest.raises(XmlRejected) as caught:
        parse_xml(data, limits)
    assert caught.value.code == "xml_rejected"
    assert caught.value.reason in DOCUMENTED_REASONS
    return caught.value


@pytest.fixture
def lxml_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The documents handed to lxml's parser: a refusal made before parsing leaves it empty."""
    calls: list[bytes] = []
    real = etree.iterparse

    def spy(source: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(source.getvalue())
        return real(source, *args, **kwargs)

    monkeypatch.setattr(etree, "iterparse", spy)
    return calls


def refused_before_parsing(data: bytes, lxml_calls: list[bytes]) -> None:
    """``data`` is refused as a DTD by the bus's own check: lxml never sees it, and the refusal
    allocates next to nothing (no entity is expanded, whatever the document declares)."""
    tracemalloc.start()
    try:
        error = rejected(data, XmlLimits(max_bytes=10_000_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.reason == DTD_FORBIDDEN
    assert lxml_calls == []
    assert peak < 2 * len(data) + 256 * 1024, f"{peak} bytes allocated refusing {len(data)} bytes"


def test_billion_laughs_is_refused_before_parsing(lxml_calls: list[bytes]) -> None:
    refused_before_parsing(BILLION_LAUGHS, lxml_calls)


def test_quadratic_blowup_is_refused_before_parsing(lxml_calls: list[bytes]) -> None:
    refused_before_parsing(quadratic_blowup(), lxml_calls)


def test_a_document_without_a_dtd_does_reach_the_parser(lxml_calls: list[bytes]) -> None:
    """The spy sees parsing when it happens: the tests above that find it empty can fail."""
    assert parse_xml(b"<r><a>1</a></r>").tag == "r"
    assert lxml_calls == [b"<r><a>1</a></r>"]


LAUGHS_BODY = BILLION_LAUGHS.decode().split("\n", 1)[1]  # without its XML declaration

# What may stand before a DOCTYPE: white space, the XML declaration, comments and processing
# instructions, in any order and number.
PREFIXES = {
    "nothing": "",
    "white-space": " \n\t\r\n",
    "declaration": '<?xml version="1.0"?>\n',
    "comment": "<!-- a comment, with <!DOCTYPE inside it and -- dashes - -->",
    "pi": '<?xml-stylesheet href="x.xsl"?>',
    "declaration-comment-pi": '<?xml version="1.0"?><!-- c -->\n<?pi data?>  <!---->',
    "long-comment": "<!--" + "x" * 20_000 + "-->",  # past the check's first chunk
}


@pytest.mark.parametrize("prefix", PREFIXES.values(), ids=PREFIXES.keys())
def test_a_doctype_after_any_prolog_is_refused_before_parsing(prefix: str, lxml_calls: list[bytes]) -> None:
    refused_before_parsing((prefix + LAUGHS_BODY).encode(), lxml_calls)


# (how the document is encoded, the XML declaration it carries)
ENCODINGS = {
    "utf-8-bom": ("utf-8-sig", '<?xml version="1.0" encoding="UTF-8"?>'),
    "utf-16-le-bom": ("utf-16", '<?xml version="1.0" encoding="UTF-16"?>'),
    "utf-16-be-bom": ("bom+utf-16-be", '<?xml version="1.0" encoding="UTF-16"?>'),
    "utf-16-le-no-bom": ("utf-16-le", '<?xml version="1.0" encoding="UTF-16LE"?>'),
    "utf-16-be-no-bom": ("utf-16-be", '<?xml version="1.0" encoding="UTF-16BE"?>'),
    "utf-32-bom": ("utf-32", '<?xml version="1.0" encoding="UTF-32"?>'),
    "windows-1258": ("cp1258", '<?xml version="1.0" encoding="windows-1258"?><!-- Viêt Nam -->'),
    "iso-8859-1": ("latin-1", "<?xml version='1.0' encoding='ISO-8859-1' ?>"),
    "ebcdic": ("cp037", '<?xml version="1.0" encoding="IBM037"?>'),
}


def encode(text: str, how: str) -> bytes:
    if how == "bom+utf-16-be":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    return text.encode(how)


@pytest.mark.parametrize("how", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_a_doctype_in_any_encoding_is_refused_before_parsing(
    how: tuple[str, str], lxml_calls: list[bytes]
) -> None:
    codec, declaration = how
    for prefix in ("", "<!-- first -->\n<?pi x?>"):
        refused_before_parsing(encode(declaration + prefix + LAUGHS_BODY, codec), lxml_calls)
        assert has_doctype(encode(declaration + prefix + LAUGHS_BODY, codec))


@pytest.mark.parametrize("how", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_the_same_encodings_without_a_doctype_parse(how: tuple[str, str]) -> None:
    """The encodings above are read, not refused wholesale: without a DOCTYPE each one parses
    (except UTF-32 and EBCDIC, which a libxml2 built without iconv lacks: then the document is
    malformed, never a DTD)."""
    codec, declaration = how
    data = encode(declaration + "<!-- <!DOCTYPE no> --><r>ok</r>", codec)
    assert not doctype_in_prolog(data) and not has_doctype(data)
    if codec in {"utf-32", "cp037"}:
        try:
            assert parse_xml(data).text == "ok"
        except XmlRejected as error:
            assert error.reason == MALFORMED
        return
    assert parse_xml(data).text == "ok"


def test_a_doctype_after_the_root_element_is_the_parsers_to_refuse() -> None:
    data = b"<r/><!DOCTYPE r>"
    assert not doctype_in_prolog(data)
    assert rejected(data).reason == MALFORMED


def test_an_encoding_nobody_knows_is_malformed_and_never_parsed(lxml_calls: list[bytes]) -> None:
    data = b'<?xml version="1.0" encoding="x-unheard-of"?><!DOCTYPE r><r/>'
    assert rejected(data).reason == MALFORMED
    assert lxml_calls == []
    assert has_doctype(data)  # zeep's screen cannot rule a DTD out either


@pytest.mark.parametrize(
    "data",
    [b"<!", b"<!--", b"<!-- unclosed", b"<?pi unclosed", b"  ", b"\xff\xfe<", b"<!-->"],
)
def test_truncated_prologs_are_refused_with_a_documented_reason(data: bytes) -> None:
    assert rejected(data).reason in {DTD_FORBIDDEN, MALFORMED}


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[Path, threading.Event]]:
    """A named pipe and an event set when anything opens it for reading (a writer can only open
    the pipe without blocking once a reader has)."""
    path = tmp_path / "entity.fifo"
    os.mkfifo(path)
    opened = threading.Event()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                stop.wait(0.002)
                continue
            opened.set()
            os.close(fd)
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    yield path, opened
    stop.set()
    watcher.join(timeout=2)


@pytest.mark.parametrize("prefix", ["", "<!-- c -->"], ids=["plain", "after-comment"])
@pytest.mark.parametrize("codec", ["utf-8", "utf-16"])
@pytest.mark.parametrize(
    "template",
    [
        '<!DOCTYPE r SYSTEM "file://{path}"><r/>',
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file://{path}">]><r>&x;</r>',
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{path}"> %p;]><r/>',
    ],
    ids=["external-dtd", "external-entity", "parameter-entity"],
)
def test_no_file_is_ever_opened(
    fifo: tuple[Path, threading.Event], template: str, codec: str, prefix: str
) -> None:
    path, opened = fifo
    data = (prefix + template.format(path=path)).encode(codec)
    assert rejected(data).reason == DTD_FORBIDDEN
    assert not opened.wait(0.05)


def test_external_entity_to_a_local_file_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    doc = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode()
    error = rejected(doc)
    assert error.reason == DTD_FORBIDDEN
    assert "TOP-SECRET-CONTENT" not in str(error)


def test_an_entity_reference_without_a_dtd_is_malformed() -> None:
    assert rejected(b"<r>&x;</r>").reason == MALFORMED


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that records whether anyone connected."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize(
    "template",
    [
        '<?xml version="1.0"?><!DOCTYPE r SYSTEM "{url}"><r/>',
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % ext SYSTEM "{url}"> %ext;]><r/>',
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "{url}">]><r>&x;</r>',
    ],
    ids=["external-dtd", "parameter-entity", "external-entity"],
)
def test_external_dtd_over_the_network_is_not_fetched(listener: socket.socket, template: str) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/evil.dtd"
    assert rejected(template.format(url=url).encode()).reason == DTD_FORBIDDEN
    assert not connected(listener)


def test_an_oversized_document_is_refused_before_parsing() -> None:
    doc = b"<r>" + b"<a>x</a>" * 1000 + b"</r>"
    error = rejected(doc, XmlLimits(max_bytes=1000))
    assert error.reason == TOO_LARGE


def test_a_deeply_nested_document_is_refused() -> None:
    doc = b"<a>" * 100 + b"</a>" * 100
    assert rejected(doc, XmlLimits(max_depth=64)).reason == TOO_DEEP
    parse_xml(b"<a>" * 64 + b"</a>" * 64, XmlLimits(max_depth=64))


def test_a_very_deep_document_is_refused_without_crashing() -> None:
    doc = b"<a>" * 200_000 + b"</a>" * 200_000
    assert rejected(doc, XmlLimits(max_bytes=10_000_000)).reason in (TOO_DEEP, MALFORMED)


@pytest.mark.parametrize("doc", [b"", b"not xml", b"<a><b></a>", b"\xff\xfe<"])
def test_malformed_input_is_a_clear_error(doc: bytes) -> None:
    assert rejected(doc).reason == MALFORMED


def test_xml_maps_to_json_ready_data() -> None:
    root = parse_xml(
        b'<r xmlns="urn:x"><name>An</name><line code="4933">Freight</line><line code="4932"/><empty/></r>'
    )
    assert element_to_data(root) == {
        "name": "An",
        "line": [{"@code": "4933", "#text": "Freight"}, {"@code": "4932"}],
        "empty": "",
    }


@pytest.mark.parametrize(
    "declared", ["utf-16", "UTF-32", "zlib", "hex", "base64", "bz2", "rot13", "idna", "uu", "quopri"]
)
@pytest.mark.parametrize("doctype", ["", "<!DOCTYPE r>"], ids=["plain", "doctype"])
def test_a_declared_encoding_that_cannot_read_the_bytes_is_a_documented_refusal(
    declared: str, doctype: str
) -> None:
    """Python names transforms (zlib, rot13...) codecs, and UTF-16 or UTF-32 declared over 8-bit
    bytes cannot read them: each ends as one of the documented reasons, never another error."""
    data = f'<?xml version="1.0" encoding="{declared}"?>{doctype}<r>x</r>'.encode("ascii")
    try:
        root = parse_xml(data)
    except XmlRejected as error:
        assert error.reason in ({DTD_FORBIDDEN, MALFORMED} if doctype else {MALFORMED})
    else:
        assert not doctype and root.text == "x"
    assert has_doctype(data) in ({True} if doctype else {True, False})
