"""The FastAPI application: the routers it is given (adapters/http/routes/, the console), the
middleware and error handlers around them, and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI

from adapters.http.direct import serve_directly
from adapters.http.error_handlers import add_error_handlers
from adapters.http.limits import DEFAULT_MAX_HEADERS, InputLimits
from adapters.http.openapi import DocumentPart, serve_document
from adapters.http.publish_doc import add_cloudevent_schema
from adapters.version import package_version
from router.bus import Bus

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    bus: Bus,
    *,
    routers: Sequence[APIRouter],
    max_body_bytes: int,
    max_headers: int = DEFAULT_MAX_HEADERS,
    lifespan: Lifespan | None = None,
    document_parts: Sequence[DocumentPart] = (),
    document_version: Callable[[], Hashable] = lambda: None,
) -> FastAPI:
    """The API of ``bus``, whose routes are ``routers``' in order (the OpenAPI document's order).
    They use :data:`adapters.http.auth.Authenticated` (or
    :func:`adapters.http.auth.current_caller`) and raise LienthongErrors, which the app answers
    as problem+json.

    ``document_parts`` write the parts of the OpenAPI document that the configuration in force
    decides; the document is built again when ``document_version()`` changes (a reload).
    ``max_body_bytes`` and ``max_headers`` bound every request (adapters/http/limits.py)."""
    app = FastAPI(
        title="lienthong",
        summary="Data-sharing bus for e-government: CloudEvents in, schema-checked, routed, delivered.",
        version=package_version(),
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry (on whenever a global provider is configured) would record
        # every request's path, and paths name people (/v1/subjects/{id}/access-log). The bus's
        # trace is its own spans (router/tracing.py), which carry no subject identifiers.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.bus = bus  # adapters.http.auth reads the caller's key against it
    _add_middleware_and_error_handlers(app)
    # every request bounded before a route reads it
    app.add_middleware(
        InputLimits,
        max_body_bytes=max_body_bytes,
        max_headers=max_headers,
        routes=lambda: [route for router in routers for route in router.routes],
    )
    for router in routers:
        app.include_router(router)
    serve_directly(app, [route for router in routers for route in router.routes])
    serve_document(app, (add_cloudevent_schema, *document_parts), document_version)
    return app


def _add_middleware_and_error_handlers(app: FastAPI) -> None:
    """What runs around every route: the middleware and the error handlers."""
    add_error_handlers(app)
