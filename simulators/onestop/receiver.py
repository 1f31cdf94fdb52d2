"""A provincial one-stop-shop system (Hệ thống thông tin giải quyết TTHC), as the bus sees it: a
webhook receiver for the events its subscriptions deliver (evidence collected for its dossiers,
results), keeping what it received so a demo or a test can read it back.

Routes: ``POST`` to any path (``/events``, ``/evidence``...: a system has one receiver for all its
subscriptions' webhooks) takes CloudEvents in any HTTP mode (binary, structured, batch); a
re-delivery with an ``Idempotency-Key`` already seen is answered 200 and not recorded twice.
Control routes: ``GET /_sim/events[?type=...&subject=...&path=...]`` lists what was received, in
order, and
the shared ``/_sim/stats``, ``/_sim/faults``, ``/_sim/reset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from adapters.http.body import parse_events
from router.errors import LienthongError
from simulators.server import CONTROL_PREFIX, Faults, SimulatorState, simulator_app

MAX_BODY = 8 << 20
MAX_BATCH = 1000


@dataclass
class Inbox:
    events: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # the path each event was posted to
    keys: set[str] = field(default_factory=set)
    duplicates: int = 0

    def matching(
        self, event_type: str | None, subject: str | None, path: str | None = None
    ) -> list[dict[str, Any]]:
        return [
            e
            for e, at in zip(self.events, self.paths, strict=True)
            if (event_type is None or e["type"] == event_type)
            and (subject is None or e.get("subject") == subject)
            and (path is None or at == path)
        ]


def create_app(
    faults: Faults | None = None, *, seed: int = 0, inbox: Inbox | None = None
) -> tuple[ASGIApp, SimulatorState]:
    box = inbox or Inbox()

    async def receive(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "too large"}, status_code=413)
        try:
            events, _ = parse_events(request.headers.get("content-type"), request.headers, body, MAX_BATCH)
        except LienthongError as error:
            return JSONResponse({"error": error.code, "detail": error.detail}, status_code=400)
        key = request.headers.get("idempotency-key")
        if key is not None and key in box.keys:
            box.duplicates += 1
            return JSONResponse({"received": 0, "duplicate": True})
        if key is not None:
            box.keys.add(key)
        for event in events:
            box.events.append({**event.attributes(), "data": event.data})
            box.paths.append(request.url.path)
        return JSONResponse({"received": len(events)})

    async def listed(request: Request) -> Response:
        query = request.query_params
        found = box.matching(query.get("type"), query.get("subject"), query.get("path"))
        return JSONResponse({"events": found, "duplicates": box.duplicates})

    routes = [
        Route(f"{CONTROL_PREFIX}events", listed, methods=["GET"]),
        Route("/{path:path}", receive, methods=["POST"]),
    ]
    return simulator_app(routes, faults or Faults(seed=seed))
