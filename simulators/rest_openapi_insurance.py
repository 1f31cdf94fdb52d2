"""A social insurance registry (cơ sở dữ liệu quốc gia về bảo hiểm) simulator: REST/JSON described
by the OpenAPI 3.1 document it serves at ``/openapi.json`` (and as YAML at ``/openapi.yaml``),
the registry a province connects by configuration alone (``kind: rest``).

``getInsured`` (``GET /api/v1/insured/{personalId}``) answers an insured person drawn from the
seeded citizens (the first 40), 404 problem+json for anyone else, 400 for a malformed ID.
``listPeriods`` (``GET /api/v1/insured/{personalId}/periods?page=N``) lists the person's
contribution periods three to a page, with a ``next`` link while more follow. ``requests`` keeps
each request's path, query and headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from simulators.registry_data import DEFAULT_SEED, Registry, build
from simulators.server import Faults, SimulatorState, simulator_app

BASE = "/api/v1/insured"
PAGE_SIZE = 3
PERSONAL_ID = re.compile(r"[0-9]{12}")
SEX = {"M": "Nam", "F": "Nữ"}

_PERSON = {
    "type": "object",
    "required": ["soSoBHXH", "soDinhDanh", "hoTen", "gioiTinh", "ngaySinh", "trangThai"],
    "additionalProperties": False,
    "properties": {
        "soSoBHXH": {"type": "string", "pattern": "^[0-9]{10}$"},
        "soDinhDanh": {"type": "string", "pattern": "^[0-9]{12}$"},
        "hoTen": {"type": "string"},
        "gioiTinh": {"enum": ["Nam", "Nữ"]},
        "ngaySinh": {"type": "string", "description": "yyyy-mm-dd, or yyyy when only the year is known"},
        "trangThai": {"enum": ["DANG_THAM_GIA", "TAM_DUNG", "DA_HUONG_CHE_DO"]},
        "noiDangKy": {"type": ["string", "null"]},
    },
}
_PERIOD = {
    "type": "object",
    "required": ["tuThang", "denThang", "donVi", "mucLuong"],
    "properties": {
        "tuThang": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
        "denThang": {"type": ["string", "null"], "pattern": "^[0-9]{4}-[0-9]{2}$"},
        "donVi": {"type": "string"},
        "mucLuong": {"type": "integer", "minimum": 0},
    },
}
_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_ID_PARAMETER = {
    "name": "personalId",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]{12}$"},
}
DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Social insurance registry (simulator)", "version": "1.0.0"},
    "paths": {
        f"{BASE}/{{personalId}}": {
            "parameters": [_ID_PARAMETER],
            "get": {
                "operationId": "getInsured",
                "parameters": [{"name": "X-Ma-Ho-So", "in": "header", "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "The insured person",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Insured"}}},
                    },
                    "400": {
                        "description": "Malformed ID",
                        "content": {"application/problem+json": {"schema": _PROBLEM}},
                    },
                    "404": {
                        "description": "Not insured",
                        "content": {"application/problem+json": {"schema": _PROBLEM}},
                    },
                },
            },
        },
        f"{BASE}/{{personalId}}/periods": {
            "get": {
                "operationId": "listPeriods",
                "parameters": [
                    _ID_PARAMETER,
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {
                    "200": {
                        "description": "A page of contribution periods",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Periods"}}},
                    },
                    "404": {
                        "description": "Not insured",
                        "content": {"application/problem+json": {"schema": _PROBLEM}},
                    },
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Insured": _PERSON,
            "Periods": {
                "type": "object",
                "required": ["items", "page"],
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Period"}},
                    "page": {"type": "integer"},
                    "next": {"type": ["string", "null"]},
                },
            },
            "Period": _PERIOD,
            "Problem": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                },
            },
        }
    },
}


class _NoAliases(yaml.SafeDumper):
    """Every shared part written out in full: the bus refuses a document with YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


# the same document as YAML (``/openapi.yaml``), as many registries publish theirs
YAML_DOCUMENT = yaml.dump(DOCUMENT, Dumper=_NoAliases, allow_unicode=True, sort_keys=False)


@dataclass
class InsuranceRegistry:
    registry: Registry = field(default_factory=build)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # the path its next links start with: its public base path when a platform's gateway
    # publishes it under one (the links are absolute paths from the gateway's origin)
    public_base: str = ""

    def __post_init__(self) -> None:
        self.insured: dict[str, dict[str, Any]] = {}
        self.periods: dict[str, list[dict[str, Any]]] = {}
        for i, citizen in enumerate(self.registry.citizens[:40]):
            self.insured[citizen.personal_id] = {
                "soSoBHXH": f"{4600000000 + i * 7919:010d}",
                "soDinhDanh": citizen.personal_id,
                "hoTen": citizen.full_name,
                "gioiTinh": SEX[citizen.sex],
                "ngaySinh": citizen.date_of_birth,
                "trangThai": ("DANG_THAM_GIA", "TAM_DUNG", "DA_HUONG_CHE_DO")[i % 3],
                "noiDangKy": None if i % 4 == 0 else "BHXH tỉnh Quảng Trị",
            }
            self.periods[citizen.personal_id] = [
                {
                    "tuThang": f"{2010 + k}-01",
                    "denThang": f"{2010 + k}-12" if k < i % 9 - 1 else None,
                    "donVi": f"Công ty số {k + 1}",
                    "mucLuong": 4_000_000 + 250_000 * k,
                }
                for k in range(i % 9)
            ]

    def seen(self, request: Request) -> None:
        self.requests.append(
            {"path": request.url.path, "query": dict(request.query_params), "headers": dict(request.headers)}
        )


def _problem(status: int, title: str) -> Response:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status},
        status_code=status,
        media_type="application/problem+json",
    )


def serve(faults: Faults | None = None, *, seed: int = DEFAULT_SEED) -> tuple[ASGIApp, SimulatorState]:
    """The simulator as ``lienthong simulate insurance`` runs it."""
    return create_app(InsuranceRegistry(build(seed)), faults)


def create_app(
    insurance: InsuranceRegistry | None = None, faults: Faults | None = None
) -> tuple[ASGIApp, SimulatorState]:
    insurance = insurance or InsuranceRegistry()

    async def document(_: Request) -> Response:
        return JSONResponse(DOCUMENT)

    async def yaml_document(_: Request) -> Response:
        return Response(YAML_DOCUMENT, media_type="application/yaml")

    async def person(request: Request) -> Response:
        insurance.seen(request)
        personal_id = request.path_params["personal_id"]
        if not PERSONAL_ID.fullmatch(personal_id):
            return _problem(400, "the personal ID is 12 digits")
        found = insurance.insured.get(personal_id)
        return JSONResponse(found) if found is not None else _problem(404, "not insured")

    async def periods(request: Request) -> Response:
        insurance.seen(request)
        personal_id = request.path_params["personal_id"]
        found = insurance.periods.get(personal_id)
        if found is None:
            return _problem(404, "not insured")
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            return _problem(400, "page is a number from 1")
        items = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        more = page * PAGE_SIZE < len(found)
        following = f"{insurance.public_base}{BASE}/{personal_id}/periods?page={page + 1}" if more else None
        return JSONResponse({"items": items, "page": page, "next": following})

    routes = [
        Route("/openapi.json", document, methods=["GET"]),
        Route("/openapi.yaml", yaml_document, methods=["GET"]),
        Route(f"{BASE}/{{personal_id}}", person, methods=["GET"]),
        Route(f"{BASE}/{{personal_id}}/periods", periods, methods=["GET"]),
    ]
    return simulator_app(routes, faults or Faults())
