"""``GET /healthz`` (liveness: the process answers) and ``GET /readyz`` (readiness: each check the
bus runs, 503 while one fails)."""

from __future__ import annotations

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


def health_router(readiness: Readiness) -> APIRouter:
    router = APIRouter()

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
        checks = await readiness()
        if not all(checks.values()):
            failing = ", ".join(name for name, ok in checks.items() if not ok)
            raise Unavailable(f"not ready: {failing}")
        return JSONResponse({"status": "ready", "checks": checks})

    return router
