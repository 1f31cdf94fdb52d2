"""A webhook receiver that only counts the events it gets: the far end of the end-to-end bench.

Run: ``python -m bench.counting_receiver --port N [--record]``; ``GET /count`` answers the count
so far. With ``--record`` it also notes when each event arrived, by its id (``ce-id`` in binary
mode, ``id`` in a structured event or a batch), on the machine's monotonic clock (``time.monotonic``,
the same in every process of the machine), and ``GET /arrivals`` answers ``{id: seconds}``: how
``bench.latency`` times publish -> delivered. A bare ASGI app under uvicorn, so that the receiver
costs as little as a receiver can.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

count = 0
arrivals: dict[str, float] | None = None  # id -> arrival, with --record


def record(headers: dict[bytes, bytes], body: bytes | bytearray) -> None:
    """Notes the first arrival of each event of the request (a redelivery keeps the first)."""
    assert arrivals is not None
    now = time.monotonic()
    if b"ce-id" in headers:
        arrivals.setdefault(headers[b"ce-id"].decode(), now)
        return
    events = orjson.loads(body)
    for event in events if isinstance(events, list) else [events]:
        arrivals.setdefault(str(event["id"]), now)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    global count  # noqa: PLW0603 - one process, one counter
    if scope["type"] != "http":
        return
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "GET":
        reply = orjson.dumps(arrivals if scope["path"] == "/arrivals" else {"count": count})
    else:
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"")
        if arrivals is not None:
            record(headers, body)
        count += (
            len(orjson.loads(body)) if content_type.startswith(b"application/cloudevents-batch+json") else 1
        )
        reply = b"ok"
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": reply})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", action="store_true", help="note each event's arrival time")
    args = parser.parse_args()
    if args.record:
        global arrivals  # noqa: PLW0603 - set once, before serving
        arrivals = {}
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", loop="uvloop", access_log=False)


if __name__ == "__main__":
    main()
