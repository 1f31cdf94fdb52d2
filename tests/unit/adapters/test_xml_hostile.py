"""Hostile XML gets a clear refusal, with no entity expanded, no file read and no connection made."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.xml import (
    DEFAULT_LIMITS,
    DTD_FORBIDDEN,
    MALFORMED,
    TOO_DEEP,
    TOO_LARGE,
    XmlLimits,
    XmlRejected,
    element_to_data,
    parse_xml,
)

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
    return caught.value


def test_billion_laughs_is_refused() -> None:
    assert rejected(BILLION_LAUGHS).reason == DTD_FORBIDDEN


def test_quadratic_blowup_is_refused() -> None:
    assert rejected(quadratic_blowup()).reason == DTD_FORBIDDEN


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
