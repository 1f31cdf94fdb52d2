"""A webhook receiver that only counts the events it gets: the far end of the end-to-end bench.

Run: ``python -m bench.counting_receiver --port N``; ``GET /count`` answers the count so far.
A bare ASGI app under uvicorn, so that the receiver costs as little as a receiver can.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

count = 0


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
        reply = orjson.dumps({"count": count})
    else:
        content_type = dict(scope["headers"]).get(b"content-type", b"")
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
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", loop="uvloop", access_log=False)


if __name__ == "__main__":
    main()
