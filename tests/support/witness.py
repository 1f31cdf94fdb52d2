"""Another agency's witness of the audit log for tests: the test receiver (a real HTTP server on
127.0.0.1, with its fault plan) that keeps each checkpoint POSTed to it and serves them back, one
a line, on GET (``?log=<id>`` keeps one log's), as docs/audit.md describes the protocol."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from tests.support.receiver import ASGIReceive, ASGISend, Receiver, _answer


class WitnessServer(Receiver):
    def __init__(self) -> None:
        super().__init__("/checkpoints")

    @property
    def lines(self) -> list[str]:
        return [body.decode("ascii") for _, body in self.received]

    @property
    def seqs(self) -> list[int]:
        return [json.loads(line)["seq"] for line in self.lines]

    async def _app(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            wanted = parse_qs(scope.get("query_string", b"").decode()).get("log", [None])[0]
            kept = [line for line in self.lines if wanted is None or json.loads(line)["log"] == wanted]
            await _answer(
                send,
                200,
                {"Content-Type": "application/x-ndjson"},
                "".join(f"{line}\n" for line in kept).encode(),
            )
            return
        await super()._app(scope, receive, send)
