"""Bounded input on every route, before authentication costs anything (issue 16, item 1).

Each attack goes to a real ``lienthong serve`` over a raw socket, sent a piece at a time: after
each piece the client looks for the bus's answer. A bus that bounds its input answers long
before the whole attack is sent (and reads and drops what follows for a moment, so that the
client can read that answer); one that reads it all holds it in memory and answers only at its
end. The bus's resident memory (``VmRSS`` of its process) is read before
and after each attack.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.bus import OPERATOR, BusConfig, BusProcess

MiB = 1 << 20
PIECE = 64 << 10
# the bus may grow by this much under an attack; reading the attack whole would grow it by more
RSS_GROWTH_BOUND = 50 * MiB
REPLAY = "/v1/subscriptions/portal/dead-letters/replay"


@pytest.fixture(scope="module")
def bus_config(tmp_path_factory: pytest.TempPathFactory) -> BusConfig:
    return BusConfig(tmp_path_factory.mktemp("bus")).subscribe("portal", "http://127.0.0.1:9/events")


def rss(bus: BusProcess) -> int:
    assert bus.process is not None
    for line in Path(f"/proc/{bus.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@dataclass
class Outcome:
    sent: int  # bytes of the attack sent before the bus answered or closed the connection
    reply: bytes  # what the bus answered (b"" when it closed the connection without an answer)

    @property
    def status(self) -> int | None:
        if not self.reply.startswith(b"HTTP/1.1 "):
            return None
        return int(self.reply[9:12])

    def problem(self) -> dict[str, object]:
        return dict(orjson.loads(self.reply.partition(b"\r\n\r\n")[2]))


def _read_reply(connection: socket.socket) -> bytes:
    reply = b""
    try:
        while chunk := connection.recv(PIECE):
            reply += chunk
            head, _, body = reply.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                ),
                None,
            )
            if length is not None and len(body) >= length:
                break
    except (ConnectionResetError, TimeoutError):
        pass
    return reply


def attack(bus: BusProcess, head: bytes, pieces: Iterator[bytes]) -> Outcome:
    """Sends ``head``, then ``pieces`` one by one until the bus answers or closes the connection."""
    sent = 0
    with socket.create_connection(("127.0.0.1", bus.config.port), timeout=60) as connection:
        connection.sendall(head)
        for piece in pieces:
            readable, _, _ = select.select([connection], [], [], 0)
            if readable:
                return Outcome(sent, _read_reply(connection))
            try:
                connection.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                return Outcome(sent, b"")
            sent += len(piece)
        return Outcome(sent, _read_reply(connection))


def chunked(total: int) -> Iterator[bytes]:
    piece = b"%x\r\n" % PIECE + b"a" * PIECE + b"\r\n"
    for _ in range(total // PIECE):
        yield piece


def raw(total: int, byte: bytes = b"a") -> Iterator[bytes]:
    for _ in range(total // PIECE):
        yield byte * PIECE


def check_bounded(bus: BusProcess, outcome: Outcome, total: int, before: int) -> None:
    assert outcome.sent < total, "the bus read the whole attack before answering"
    assert rss(bus) - before < RSS_GROWTH_BOUND
    # and it still serves
    assert httpx.get(f"{bus.url}/healthz", timeout=10).status_code == 200


def warm(bus: BusProcess) -> int:
    with bus.client(OPERATOR) as client:
        client.post(REPLAY, json={"all": True})
    return rss(bus)


def replay_head(*headers: str) -> bytes:
    """The head of a POST to the replay route, whose body FastAPI would read before the key."""
    extra = "".join(f"{header}\r\n" for header in headers)
    return (
        f"POST {REPLAY} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


def refused_within_bounds(
    bus: BusProcess, head: bytes, body: Callable[[int], Iterator[bytes]], total: int, status: int, code: str
) -> None:
    """Sends ``total`` bytes after ``head``: the bus answers ``status`` with problem ``code`` before
    reading them all, its memory stays within the bound, and it still serves."""
    before = warm(bus)
    outcome = attack(bus, head, body(total))
    check_bounded(bus, outcome, total, before)
    assert outcome.status == status
    assert outcome.problem()["code"] == code


def test_a_chunked_body_without_a_key_is_refused_before_it_is_read(bus: BusProcess) -> None:
    head = replay_head("Transfer-Encoding: chunked")
    refused_within_bounds(bus, head, chunked, 64 * MiB, 401, "unauthenticated")


def test_a_declared_length_over_the_limit_is_refused_at_once(bus: BusProcess) -> None:
    head = replay_head(f"Content-Length: {400 * MiB}")
    refused_within_bounds(bus, head, raw, 64 * MiB, 413, "payload_too_large")


def test_a_chunked_body_with_a_key_is_cut_at_the_limit(bus: BusProcess) -> None:
    head = replay_head(f"Authorization: Bearer {bus.config.keys[OPERATOR]}", "Transfer-Encoding: chunked")
    refused_within_bounds(bus, head, chunked, 64 * MiB, 413, "payload_too_large")


def test_a_huge_header_is_refused_while_it_arrives(bus: BusProcess) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "
    refused_within_bounds(bus, head, raw, 100 * MiB, 431, "headers_too_large")


def test_too_many_headers_are_refused(bus: BusProcess) -> None:
    headers = {f"X-Header-{n}": "1" for n in range(150)}
    reply = httpx.get(f"{bus.url}/healthz", headers=headers, timeout=10)
    assert reply.status_code == 431
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["code"] == "headers_too_large"
    assert (
        httpx.get(f"{bus.url}/healthz", headers=dict(list(headers.items())[:50]), timeout=10).status_code
        == 200
    )


def test_a_request_within_the_limits_is_served(bus: BusProcess) -> None:
    with bus.client(OPERATOR) as client:
        reply = client.post(REPLAY, json={"all": True})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"replayed": 0, "ids": []}


def sent_after_the_answer(bus: BusProcess, head: bytes, pieces: Iterator[bytes]) -> tuple[Outcome, int]:
    """Like ``attack``, then goes on sending: how much more the bus took before closing."""
    with socket.create_connection(("127.0.0.1", bus.config.port), timeout=60) as connection:
        connection.sendall(head)
        sent, after, reply = 0, 0, b""
        for piece in pieces:
            if not reply and select.select([connection], [], [], 0)[0]:
                reply = _read_reply(connection)
            try:
                connection.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            if reply:
                after += len(piece)
            else:
                sent += len(piece)
        return Outcome(sent, reply), after


@pytest.mark.parametrize("path", ["/v1/events", "/v1/evidence:query"])
def test_a_hot_route_refuses_a_body_without_a_key_and_closes(bus: BusProcess, path: str) -> None:
    total = 64 * MiB
    before = warm(bus)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    outcome, after = sent_after_the_answer(bus, head, chunked(total))
    assert outcome.status == 401
    assert outcome.sent < total, "the bus read the whole attack before answering"
    assert after < 40 * MiB, "the bus went on reading the body it had refused"
    assert rss(bus) - before < RSS_GROWTH_BOUND
