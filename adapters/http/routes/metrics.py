"""``GET /metrics``: the bus's Prometheus metrics, in the text exposition format."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette.responses import Response

from adapters.http.responses import media
from adapters.metrics import CONTENT_TYPE as METRICS_TEXT

# the exposition's body and its content type
MetricsRender = Callable[[], tuple[bytes, str]]


def metrics_router(render: MetricsRender, *, documented: bool = True) -> APIRouter:
    """``documented``: listed in the OpenAPI document; false when /metrics is served on an internal
    listener of its own (adapters/http/metrics_listener.py), not on the API the document describes."""
    router = APIRouter()

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: media(METRICS_TEXT, {"type": "string"}, "Prometheus text exposition format")},
        tags=["operations"],
        summary="Prometheus metrics",
        include_in_schema=documented,
    )
    async def metrics_endpoint() -> Response:
        body, content_type = render()
        return Response(body, media_type=content_type)

    return router
