"""adapters/http/direct.py: a DirectRoute is documented by FastAPI and served by a plain route
ahead of FastAPI's router; one that declares what only FastAPI would resolve is refused."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import PlainTextResponse, Response

from adapters.http.direct import DirectRoute, ServedRoute, serve_directly


async def allowed() -> bool:
    return True


async def test_a_direct_route_is_served_by_its_plain_route_which_names_itself_in_the_scope() -> None:
    app = FastAPI()
    hot = APIRouter(route_class=DirectRoute)

    @app.get("/v1/{anything}")  # declared first: FastAPI's router would try it first
    async def catch_all(anything: str) -> str:
        return "fastapi"

    @hot.post("/v1/hot", summary="a hot path")
    async def endpoint(request: Request) -> Response:
        route = request.scope["route"]
        return PlainTextResponse(f"{type(route).__name__} {route.path}")

    app.include_router(hot)
    serve_directly(app, hot.routes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
        assert (await client.post("/v1/hot")).text == "ServedRoute /v1/hot"
        assert (await client.get("/v1/other")).json() == "fastapi"
    assert app.openapi()["paths"]["/v1/hot"]["post"]["summary"] == "a hot path"
    assert isinstance(app.router.routes[0], ServedRoute)


@pytest.mark.parametrize("declaration", ["dependency", "route dependency", "path", "query"])
def test_a_direct_route_that_needs_fastapi_to_resolve_anything_is_refused(declaration: str) -> None:
    hot = APIRouter(route_class=DirectRoute)
    if declaration == "dependency":

        @hot.post("/x")
        async def with_dependency(request: Request, ok: bool = Depends(allowed)) -> None: ...

    elif declaration == "route dependency":

        @hot.post("/x", dependencies=[Depends(allowed)])
        async def with_route_dependency(request: Request) -> None: ...

    elif declaration == "path":

        @hot.post("/x/{name}")
        async def with_path(name: str, request: Request) -> None: ...

    else:

        @hot.post("/x")
        async def with_query(request: Request, limit: int = 10) -> None: ...

    with pytest.raises(TypeError, match="takes only the Request"):
        serve_directly(FastAPI(), hot.routes)
