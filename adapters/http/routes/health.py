"""``GET /healthz`` (liveness: the process answers) and ``GET /readyz`` (readiness: each check the
bus runs, 503 while one fails)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from adapters.http.responses import errors
from router.errors import Unavailable

# each check (transport, workers, critical sinks, audit) and whether it passes
Readiness = Callable[[], Awaitable[dict[str, bool]]]


class ReadyReply(BaseModel):
    status: str
    checks: dict[str, bool] = Field(description="each check and whether it passes")


class SharedReadiness:
    """One readiness check at a time: a request that arrives while a check runs takes that check's
    result. ``/readyz`` needs no key and no limit applies to it (a probe must never be refused), and
    each check does I/O (the log's database, a Kafka cluster description, the audit store), so a
    flood of requests costs one check in flight, never one per request."""

    def __init__(self, readiness: Readiness) -> None:
        self._readiness = readiness
        self._running: asyncio.Future[dict[str, bool]] | None = None

    async def __call__(self) -> dict[str, bool]:
        if self._running is None:
            self._running = asyncio.ensure_future(self._check())
        # shielded: a client that goes away does not cancel the check the others wait for
        return await asyncio.shield(self._running)

    async def _check(self) -> dict[str, bool]:
        try:
            return await self._readiness()
        finally:
            self._running = None


def health_router(readiness: Readiness) -> APIRouter:
    router = APIRouter()
    shared = SharedReadiness(readiness)

    @router.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        response_model=ReadyReply,
        responses=errors(Unavailable),
        tags=["operations"],
        summary="Readiness: transport, workers, critical sinks, audit",
    )
    async def readyz() -> Response:
        checks = await shared()
        if not all(checks.values()):
            failing = ", ".join(name for name, ok in checks.items() if not ok)
            raise Unavailable(f"not ready: {failing}")
        return JSONResponse({"status": "ready", "checks": checks})

    return router
