"""A real webhook receiver for tests: uvicorn serving a tiny ASGI app on 127.0.0.1, in a thread
with its own event loop, that records what it gets and fails on request.

    with Receiver() as receiver:            # or receiver.start() ... receiver.stop()
        receiver.fail_next(Fault(503, {"Retry-After": "1"}), Fault(drop=True))
        receiver.fail_when(lambda r: r.headers.get("ce-subject") == "bad", Fault(400))
        ...                                  # POST to receiver.url
        await receiver.wait_for(10)          # until 10 requests were accepted
        headers, body = receiver.received[0]

``received`` holds the requests answered 2xx (what a sink delivered), ``requests`` every request
with the status it got (``None`` when the connection was dropped). Header names are lower-case.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Self

import uvicorn

ASGIReceive = Callable[[], Any]
ASGISend = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Fault:
    """How to answer one request instead of 200."""

    status: int = 503
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    # wait this long before answering (longer than a sink's timeout makes it time out)
    delay_s: float = 0.0
    # close the connection without answering, as a receiver that crashed
    drop: bool = False


class Received(NamedTuple):
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int | None
    status: int | None  # None: the connection was dropped


@dataclass
class _Rule:
    predicate: Callable[[Received], bool]
    fault: Fault
    times: int | None


class Receiver:
    def __init__(self, path: str = "/events") -> None:
        self.path = path
        self.received: list[Received] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._queue: list[Fault] = []
        self._rules: list[_Rule] = []
        self._generation = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,  # 0 the first time; the same port again after a stop
            lifespan="off",
            interface="asgi3",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="test-receiver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test receiver did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    # --- the fault plan --------------------------------------------------------------------------

    def fail_next(self, *faults: Fault) -> None:
        """The next requests get these faults, one each, in order (before any ``fail_when`` rule)."""
        with self._lock:
            self._queue.extend(faults)

    def fail_when(
        self, predicate: Callable[[Received], bool], fault: Fault, times: int | None = None
    ) -> None:
        """Requests matching ``predicate`` get ``fault``: every time, or only the first ``times``."""
        with self._lock:
            self._rules.append(_Rule(predicate, fault, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._queue.clear()
            self._rules.clear()

    def reset(self) -> None:
        """Forgets the fault plan and what was received (requests still in progress included),
        so one running receiver can serve several tests."""
        with self._lock:
            self._generation += 1
            self._queue.clear()
            self._rules.clear()
            self.received = []
            self.requests = []

    def _fault_for(self, request: Received) -> Fault | None:
        with self._lock:
            if self._queue:
                return self._queue.pop(0)
            for rule in self._rules:
                if rule.times is not None and rule.times <= 0:
                    continue
                if rule.predicate(request):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.fault
        return None

    # --- waiting ---------------------------------------------------------------------------------

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Until ``count`` requests were accepted (raises TimeoutError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the receiver got {len(self.received)} of {count} requests")
            await asyncio.sleep(0.01)

    # --- the ASGI app ----------------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender died mid-request (kill -9): nothing was delivered
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = Received(headers, bytes(body))
        client = scope.get("client")
        fault = self._fault_for(request)
        generation = self._generation

        def record(status: int | None) -> None:
            if generation != self._generation:
                return  # the receiver was reset while this request was in progress
            self.requests.append(
                Request(
                    method=scope["method"],
                    path=scope["path"],
                    headers=headers,
                    body=bytes(body),
                    client_port=client[1] if client else None,
                    status=status,
                )
            )

        if fault is None:
            record(200)
            if generation == self._generation:
                self.received.append(request)
            await _answer(send, 200, {}, b"ok")
            return
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.drop:
            record(None)
            await _drop_connection(receive)
            return
        record(fault.status)
        if 200 <= fault.status < 300 and generation == self._generation:
            self.received.append(request)
        await _answer(send, fault.status, fault.headers, fault.body)


async def _answer(send: ASGISend, status: int, headers: Mapping[str, str], body: bytes) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _drop_connection(receive: ASGIReceive) -> None:
    # ASGI has no "close without answering"; uvicorn's request cycle (the owner of ``receive``)
    # holds the connection's transport. Once the loop has run connection_lost, uvicorn sees the
    # client gone and sends nothing more.
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("this uvicorn version does not expose the transport; update the test receiver")
    transport.abort()
    for _ in range(3):
        await asyncio.sleep(0)
