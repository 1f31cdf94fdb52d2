"""The API's errors as RFC 9457 problem+json: the bus's own (LienthongError), FastAPI's and
Starlette's (validation, 404, 405, an undecodable body), a client gone before its body was read,
and anything unexpected (500, logged with the route's template, never the path)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from adapters.http import problems
from adapters.http.allow import allowed_methods
from router.errors import FieldError, InvalidRequest, LienthongError, MalformedJson, NotFound

log = logging.getLogger("lienthong.http")


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LienthongError)
    async def on_error(request: Request, error: LienthongError) -> Response:
        return problems.from_error(error, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> Response:
        found = tuple(
            FieldError("/" + "/".join(str(part) for part in item.get("loc", ())), str(item.get("msg", "")))
            for item in error.errors()[:50]
        )
        if any(item.get("type") == "json_invalid" for item in error.errors()):
            return problems.from_error(MalformedJson("the body is not valid JSON", found), request.url.path)
        return problems.from_error(InvalidRequest("see errors", found), request.url.path)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            return problems.from_error(NotFound(f"no route {request.url.path}"), request.url.path)
        if error.status_code == 400:
            # FastAPI's only 400: a JSON body it could not decode (invalid UTF-8)
            return problems.from_error(
                MalformedJson(f"the body is not JSON: {error.detail}"), request.url.path
            )
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # Starlette names the methods of the first route of the path only; a path served by
            # several routes (GET and DELETE dead-letters) must name them all (RFC 9110, Allow)
            headers["Allow"] = ", ".join(allowed_methods(app.router.routes, request.scope))
            refused = problems.MethodNotAllowed(f"{request.method} is not allowed here")
            return problems.from_error(refused, request.url.path, headers)
        return problems.problem(
            error.status_code,
            "http_error",
            "HTTP error",
            str(error.detail),
            request.url.path,
            headers=headers,
        )

    @app.exception_handler(ClientDisconnect)
    async def on_gone(request: Request, error: ClientDisconnect) -> Response:
        # the client closed its connection before sending the whole body: nothing was done, and
        # no one will read this answer; not a fault of the bus, so not logged as one
        log.debug("%s %s: the client went away before its request was read", request.method, request.url.path)
        gone = problems.ClientDisconnected("the request body was not received whole")
        return problems.from_error(gone, request.url.path)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, error: Exception) -> Response:
        # the route's template, not the path: a path may name a person (/v1/subjects/{id}/...)
        route = getattr(request.scope.get("route"), "path", "(no route)")
        log.exception("unexpected error on %s %s", request.method, route)
        return problems.problem(
            500,
            "internal_error",
            "Internal error",
            "the bus failed unexpectedly; see its log",
            request.url.path,
        )
