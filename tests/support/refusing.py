"""Registries that refuse every lookup with a text naming a citizen (a SOAP population registry's
fault string, a REST business registry's problem ``detail``): what a registry may write into its
error text, which the requester must never read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.business import ENTERPRISES
from simulators.population import PATH as POPULATION_PATH
from simulators.server import SimulatorServer
from simulators.soap_service import XML_TYPE, SoapFault, fault_envelope
from tests.support.simulators import serving

NAME = "Trần Thị Bích Ngọc"
OTHER_ID = "001099012345"  # another citizen's personal ID, in the registry's text
# a line break in the text: written to the log as a space, not as a forged log line
TEXT = f"hồ sơ của công dân {NAME}\nsố định danh {OTHER_ID} đang bị khoá"


async def _refused_soap(request: Request) -> Response:
    return Response(fault_envelope(SoapFault("Server", TEXT)), status_code=500, media_type=XML_TYPE)


async def _refused_rest(request: Request) -> Response:
    body = {"type": "about:blank", "title": "Conflict", "status": 409, "detail": TEXT}
    return JSONResponse(body, status_code=409, media_type="application/problem+json")


@contextmanager
def refusing_registries() -> Iterator[SimulatorServer]:
    """One server answering as the population registry (SOAP, at its path) and the business
    registry (REST): every lookup refused with :data:`TEXT`."""
    app = Starlette(
        routes=[
            Route(POPULATION_PATH, _refused_soap, methods=["POST"]),
            Route(ENTERPRISES + "/{tax_code}", _refused_rest, methods=["GET"]),
        ]
    )
    with serving(app) as server:
        yield server
