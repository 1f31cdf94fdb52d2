"""A bare Starlette endpoint under uvicorn, set up as the bus's own server (uvloop, httptools, no
access log), for ``bench.evidence``: the floor of any ASGI service on this machine, and with
``--proxy`` the floor of an evidence query.

Run: ``python -m bench.bare_endpoint --port N [--proxy REGISTRY_URL]``. ``POST /v1/evidence:query``
reads the body and answers a fixed small JSON document at once; with ``--proxy`` it parses the
body (``orjson.loads``), makes the call the bus's business connector makes (``GET
/api/v1/enterprises/{tax_code}`` with aiohttp, one session kept alive) and returns the registry's
body: no authentication, policy, validation, minimisation, provenance or audit. ``GET /readyz``
answers 200.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

REPLY = b'{"data":{"tax_code":"0100109106","name":"bench"},"provenance":{"provider":"none"}}'


async def query(request: Request) -> Response:
    await request.body()
    return Response(REPLY, media_type="application/json")


async def ready(request: Request) -> Response:
    return Response(b'{"status":"ready"}', media_type="application/json")


def proxy(registry: str) -> Starlette:
    """The bare proxy: each query's tax code looked up at ``registry``, its body returned."""
    sessions: list[aiohttp.ClientSession] = []

    async def forward(request: Request) -> Response:
        tax_code = orjson.loads(await request.body())["subject"]["tax_code"]
        async with sessions[0].get(f"{registry}/api/v1/enterprises/{tax_code}") as reply:
            return Response(await reply.read(), status_code=reply.status, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
            sessions.append(session)
            yield

    return Starlette(
        routes=[
            Route("/v1/evidence:query", forward, methods=["POST"]),
            Route("/readyz", ready, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


app = Starlette(
    routes=[Route("/v1/evidence:query", query, methods=["POST"]), Route("/readyz", ready, methods=["GET"])]
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--proxy", metavar="REGISTRY_URL", help="forward each query to the business registry")
    args = parser.parse_args()
    uvicorn.run(
        proxy(args.proxy) if args.proxy else app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


if __name__ == "__main__":
    main()
