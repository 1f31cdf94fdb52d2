"""A bare Starlette endpoint under uvicorn, set up as the bus's own server (uvloop, httptools, no
access log): the floor of any ASGI service on this machine, for ``bench.evidence``.

Run: ``python -m bench.bare_endpoint --port N``. ``POST /v1/evidence:query`` reads the body and
answers a fixed small JSON document at once; ``GET /readyz`` answers 200.
"""

from __future__ import annotations

import argparse

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


app = Starlette(
    routes=[Route("/v1/evidence:query", query, methods=["POST"]), Route("/readyz", ready, methods=["GET"])]
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


if __name__ == "__main__":
    main()
