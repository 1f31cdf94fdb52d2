"""A simulator of the citizen and business data store (Kho dữ liệu điện tử của tổ chức, cá nhân):
a REST/JSON server keeping the results of procedures, so that later procedures reuse them.

Records are kept in SQLite: in a file (``path``, survives a restart of the simulator) or in
memory. They are indexed by holder (personal ID or tax code) and procedure, and by result code.

Routes (errors are problem+json with a ``code``):

- ``POST /api/v1/results``: store a record (fields below). The store's key is the issuing
  agency's code and the result code: the same record again is answered 200 ``created: false``
  (a re-delivery), a different record under the same key 409 ``result_exists`` (a result number
  is issued once), a record that breaks the rules 400 ``invalid_record``; a new one 201.
- ``GET /api/v1/results?holder=&procedure=``: the holder's results of that procedure, newest
  first; ``GET /api/v1/results?resultCode=[&agency=]``: the results with that number.
- ``GET /api/v1/results/{id}``: one record by the store's id.

A record: ``soHieuKetQua`` (result code), ``maTTHC`` (procedure), ``maHoSo`` (dossier),
``chuSoHuu`` {``soDinhDanh`` | ``maSoThue``, ``hoTen``}, ``coQuanCap`` {``maDinhDanh``, ``ten``},
``ngayCap``, ``hieuLucDen``, ``trichYeu``, ``tepKetQua`` (files), ``vanBanKy`` (the signed result
as issued, signature included) and ``xacThucChuKy`` (the bus's verification of it).

Client authentication: the store's contract does not say how a caller authenticates, so the
simulator takes what the connector can send (docs/security.md, "Connector transport"). Created
with ``api_key``, it refuses every call to ``/api/`` without that key in ``api_key_header``
(default ``X-API-Key``): 401 ``unauthenticated``. Served over HTTPS with a client CA
(:class:`simulators.server.ServerTls`), it refuses a client without a certificate of that CA
before any request reaches it.

Control routes, besides the shared ``/_sim/stats``, ``/_sim/faults``, ``/_sim/reset``:
``GET /_sim/results`` (every record, in storage order), ``DELETE /_sim/results`` (forget them),
``PATCH /_sim/results/{id}`` (change a stored record's signed result in place: tampering inside
the store, for tests of the check made when a result is served).
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from connectors.citizen_store.contract import RESULTS
from router.identifiers import is_personal_id, is_tax_code
from simulators.server import CONTROL_PREFIX, Faults, SimulatorState, simulator_app

PROBLEM = "application/problem+json"
MAX_BODY = 2 << 20
MAX_LISTED = 100

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    agency TEXT NOT NULL,
    result_code TEXT NOT NULL,
    holder TEXT NOT NULL,
    procedure TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_holder ON results (holder, procedure, issued_at);
CREATE INDEX IF NOT EXISTS results_by_code ON results (result_code);
"""


def problem(status: int, code: str, detail: str) -> Response:
    body = {"type": f"/problems/{code}", "title": code.replace("_", " "), "status": status, "code": code}
    body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def record_id(agency: str, result_code: str) -> str:
    """The store's id of a result: its issuing agency and number, hashed (numbers contain '/')."""
    return hashlib.sha256(f"{agency}\n{result_code}".encode()).hexdigest()[:32]


def holder_key(record: dict[str, Any]) -> str | None:
    holder = record.get("chuSoHuu")
    if not isinstance(holder, dict):
        return None
    personal, tax = holder.get("soDinhDanh"), holder.get("maSoThue")
    if isinstance(personal, str) and is_personal_id(personal):
        return personal
    # a household business's tax code is its owner's personal ID (since 1 July 2025)
    if isinstance(tax, str) and is_tax_code(tax, personal_id=True):
        return tax
    return None


def check_record(record: Any) -> str | None:
    """What is wrong with a record, or None."""
    if not isinstance(record, dict):
        return "the body is not a JSON object"
    for field in ("soHieuKetQua", "maTTHC", "ngayCap"):
        if not isinstance(record.get(field), str) or not record[field]:
            return f"'{field}' is required (a non-empty string)"
    if holder_key(record) is None:
        return "'chuSoHuu' needs a valid 'soDinhDanh' (12 digits) or 'maSoThue'"
    agency = record.get("coQuanCap")
    if not isinstance(agency, dict) or not isinstance(agency.get("maDinhDanh"), str):
        return "'coQuanCap.maDinhDanh' is required"
    if not isinstance(record.get("vanBanKy"), dict) or "signature" not in record["vanBanKy"]:
        return "'vanBanKy' (the signed result, signature included) is required"
    if not isinstance(record.get("xacThucChuKy"), dict):
        return "'xacThucChuKy' (the verification of the signature) is required"
    return None


class ResultStore:
    """The records, in SQLite (a file, or memory when ``path`` is None)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def put(self, record: dict[str, Any]) -> tuple[str, bool]:
        """Stores a record; (id, created). Raises KeyError if another record has its key."""
        agency = record["coQuanCap"]["maDinhDanh"]
        ident = record_id(agency, record["soHieuKetQua"])
        body = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        with self._lock, self._db:
            row = self._db.execute("SELECT record FROM results WHERE id = ?", (ident,)).fetchone()
            if row is not None:
                if bytes(row[0]) != body:
                    raise KeyError(ident)
                return ident, False
            self._db.execute(
                "INSERT INTO results (id, agency, result_code, holder, procedure, issued_at, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    ident,
                    agency,
                    record["soHieuKetQua"],
                    holder_key(record),
                    record["maTTHC"],
                    record["ngayCap"],
                    body,
                ),
            )
        return ident, True

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [{"id": row[0], **orjson.loads(row[1])} for row in rows]

    def by_holder(self, holder: str, procedure: str) -> list[dict[str, Any]]:
        return self._query(
            "SELECT id, record FROM results WHERE holder = ? AND procedure = ?"
            " ORDER BY issued_at DESC, seq DESC LIMIT ?",
            (holder, procedure, MAX_LISTED),
        )

    def by_code(self, result_code: str, agency: str | None) -> list[dict[str, Any]]:
        if agency is None:
            return self._query(
                "SELECT id, record FROM results WHERE result_code = ? ORDER BY seq LIMIT ?",
                (result_code, MAX_LISTED),
            )
        return self._query(
            "SELECT id, record FROM results WHERE result_code = ? AND agency = ? ORDER BY seq LIMIT ?",
            (result_code, agency, MAX_LISTED),
        )

    def get(self, ident: str) -> dict[str, Any] | None:
        found = self._query("SELECT id, record FROM results WHERE id = ?", (ident,))
        return found[0] if found else None

    def all(self) -> list[dict[str, Any]]:
        return self._query("SELECT id, record FROM results ORDER BY seq", ())

    def replace_signed(self, ident: str, changes: dict[str, Any]) -> bool:
        """Changes fields of a stored record's signed result (tampering, for tests)."""
        record = self.get(ident)
        if record is None:
            return False
        record.pop("id")
        record["vanBanKy"].update(changes)
        with self._lock, self._db:
            self._db.execute(
                "UPDATE results SET record = ? WHERE id = ?",
                (orjson.dumps(record, option=orjson.OPT_SORT_KEYS), ident),
            )
        return True

    def clear(self) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM results")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CitizenStoreService:
    def __init__(self, store: ResultStore) -> None:
        self.store = store

    async def post(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return problem(413, "too_large", f"a record is at most {MAX_BODY} bytes")
        try:
            record = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            return problem(400, "invalid_record", f"the body is not JSON: {error}")
        wrong = check_record(record)
        if wrong is not None:
            return problem(400, "invalid_record", wrong)
        try:
            ident, created = self.store.put(record)
        except KeyError:
            return problem(
                409,
                "result_exists",
                f"agency {record['coQuanCap']['maDinhDanh']} already has a different result "
                f"numbered {record['soHieuKetQua']!r}",
            )
        return JSONResponse({"id": ident, "created": created}, status_code=201 if created else 200)

    async def search(self, request: Request) -> Response:
        params = request.query_params
        code = params.get("resultCode")
        if code:
            return JSONResponse({"results": self.store.by_code(code, params.get("agency"))})
        holder, procedure = params.get("holder", ""), params.get("procedure", "")
        if not (is_personal_id(holder) or is_tax_code(holder)) or not procedure:
            return problem(
                400,
                "invalid_query",
                "give 'holder' (a 12-digit personal ID or a tax code) and 'procedure', or 'resultCode'",
            )
        return JSONResponse({"results": self.store.by_holder(holder, procedure)})

    async def one(self, request: Request) -> Response:
        record = self.store.get(request.path_params["id"])
        if record is None:
            return problem(404, "not_found", "no such result")
        return JSONResponse(record)

    # --- control routes ---

    async def list_all(self, _: Request) -> Response:
        return JSONResponse({"results": self.store.all()})

    async def clear(self, _: Request) -> Response:
        self.store.clear()
        return JSONResponse({"results": 0})

    async def tamper(self, request: Request) -> Response:
        changes = await request.json()
        if not isinstance(changes, dict) or not self.store.replace_signed(request.path_params["id"], changes):
            return problem(404, "not_found", "no such result, or the body is not an object")
        return JSONResponse({"id": request.path_params["id"]})


Handler = Callable[[Request], Awaitable[Response]]
API_KEY_HEADER = "X-API-Key"


def authenticated(handler: Handler, api_key: str | None, header: str) -> Handler:
    """``handler`` behind the API key check (no check without a key)."""
    if api_key is None:
        return handler
    expected = api_key.encode()

    async def checked(request: Request) -> Response:
        given = request.headers.get(header, "").encode()
        if not hmac.compare_digest(given, expected):
            return problem(401, "unauthenticated", f"a valid API key in {header} is required")
        return await handler(request)

    return checked


def create_app(
    faults: Faults | None = None,
    *,
    seed: int = 0,  # the shared simulator signature; this store starts empty
    store: ResultStore | None = None,
    path: Path | None = None,
    api_key: str | None = None,
    api_key_header: str = API_KEY_HEADER,
) -> tuple[ASGIApp, SimulatorState]:
    service = CitizenStoreService(store or ResultStore(path))

    def api(handler: Handler) -> Handler:
        return authenticated(handler, api_key, api_key_header)

    routes = [
        Route(RESULTS, api(service.post), methods=["POST"]),
        Route(RESULTS, api(service.search), methods=["GET"]),
        Route(RESULTS + "/{id}", api(service.one), methods=["GET"]),
        Route(f"{CONTROL_PREFIX}results", service.list_all, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}results", service.clear, methods=["DELETE"]),
        Route(f"{CONTROL_PREFIX}results/{{id}}", service.tamper, methods=["PATCH"]),
    ]
    return simulator_app(routes, faults or Faults())
