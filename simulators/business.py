"""A simulator of the business registry: a REST/JSON server.

``GET /api/v1/enterprises/{tax_code}`` (10 or 13 digits, ``0100109106-001`` accepted; the check
digit is enforced): name, legal representative (a citizen of the population simulator),
address, registered business lines, status. Errors are problem+json: 400 ``invalid_tax_code``,
404 ``not_found``, 401 ``unauthorized``.

Authentication, when ``auth`` is on: OAuth2 client credentials at ``POST /oauth/token`` (HTTP
Basic with the client id and secret), tokens living ``token_ttl_s``; the simulator can revoke
every token early (:meth:`BusinessRegistry.revoke_tokens`) to exercise a client's renewal.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from router.identifiers import is_personal_id, is_tax_code
from simulators.population import address
from simulators.registry_data import DEFAULT_SEED, Enterprise, Registry, build
from simulators.server import Faults, SimulatorState, simulator_app

PROBLEM = "application/problem+json"
ENTERPRISES = "/api/v1/enterprises"  # GET {ENTERPRISES}/{tax_code}: one enterprise
OAUTH2 = "/oauth/token"  # the OAuth2 client-credentials grant, when the registry asks for one


def problem(status: int, code: str, detail: str) -> Response:
    body = {
        "type": f"/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def enterprise_reply(registry: Registry, firm: Enterprise) -> dict[str, Any]:
    person = registry.citizen(firm.legal_representative)
    assert person is not None  # the dataset's invariant: representatives are citizens
    return {
        "maSoDoanhNghiep": firm.tax_code,
        "tenDoanhNghiep": firm.name,
        "nguoiDaiDienPhapLuat": {
            "hoVaTen": person.full_name,
            "soDinhDanh": person.personal_id,
            "ngaySinh": person.date_of_birth,
        },
        "diaChiTruSo": address(firm.address),
        "nganhNghe": [
            {"maNganh": line.code, "tenNganh": line.name, "laNganhChinh": line.main} for line in firm.lines
        ],
        "tinhTrang": firm.status,
        "ngayDangKyLanDau": firm.registered_on.isoformat(),
    }


@dataclass
class BusinessRegistry:
    registry: Registry
    auth: bool = False
    client_id: str = "lienthong"
    client_secret: str = "demo-secret"  # noqa: S105 - a simulator's demo credential
    token_ttl_s: float = 300.0
    tokens: dict[str, float] = field(default_factory=dict)
    tokens_issued: int = 0

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    async def token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        value = secrets.token_urlsafe(24)
        self.tokens[value] = time.monotonic() + self.token_ttl_s
        self.tokens_issued += 1
        return JSONResponse({"access_token": value, "token_type": "Bearer", "expires_in": self.token_ttl_s})

    def _authorised(self, request: Request) -> bool:
        if not self.auth:
            return True
        header = request.headers.get("authorization", "")
        expires = self.tokens.get(header.removeprefix("Bearer "))
        return header.startswith("Bearer ") and expires is not None and time.monotonic() < expires

    async def enterprise(self, request: Request) -> Response:
        if not self._authorised(request):
            return problem(401, "unauthorized", "a valid bearer token is required")
        tax_code = request.path_params["tax_code"]
        if is_personal_id(tax_code):  # a person's: not quoted back
            return problem(
                400, "invalid_tax_code", "a 12-digit personal ID is no enterprise's code: 10 or 13 digits"
            )
        if not is_tax_code(tax_code):
            return problem(
                400, "invalid_tax_code", "not a valid tax code: 10 digits, or 13 (10 and a branch)"
            )
        firm = self.registry.enterprise(tax_code)
        if firm is None:
            return problem(404, "not_found", "no enterprise with that tax code")
        return JSONResponse(enterprise_reply(self.registry, firm))


def create_app(
    faults: Faults | None = None, *, seed: int = DEFAULT_SEED, service: BusinessRegistry | None = None
) -> tuple[ASGIApp, SimulatorState]:
    service = service or BusinessRegistry(build(seed))
    routes = [
        Route(ENTERPRISES + "/{tax_code}", service.enterprise, methods=["GET"]),
        Route(OAUTH2, service.token, methods=["POST"]),
    ]
    return simulator_app(routes, faults or Faults())
