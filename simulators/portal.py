"""A simulator of the National Public Service Portal's adapter: a real HTTP server.

``POST /auth/login`` ``{username, password}`` -> ``{session, error_code: 0}``; every other call
is ``POST /adapter/service`` ``{session, madonvi, service, ...}`` with ``service`` one of
``TraCuuHoSo`` (``mahoso``), ``DongBoHoSoMC`` (``isUpdating`` "True"/"False", ``data: [...]``)
and ``CapNhatTienDoHoSoMC`` (``data: [...]``). Replies are ``{error_code, message}`` (codes in
:mod:`connectors.portal.protocol`); a request that breaks a rule (a missing or unknown field, a
status outside 1-10, a date not ``yyyyMMddHHmmss``, a citizen without DinhDanhCHS) gets error
``03`` naming the field, never a crash.

State: the dossiers and each dossier's call log, in memory, and written through to a SQLite
file when one is given (``lienthong simulate portal --state FILE``), so it survives a restart.

Faults: the shared ones (:mod:`simulators.server`: 5xx, slow replies, an outage window) and
the portal's own, set with ``PUT /_sim/portal`` ``{session_ttl_s, already_exists_next,
malformed_next}``: sessions that expire, creates answered "already exists" (the dossier is
stored anyway, as when an earlier create landed but its reply was lost), replies garbled after
the operation was applied. ``POST /_sim/expire-sessions`` ends every session now.

Control routes for tests: ``GET /_sim/log/{code}`` (the dossier's calls in order),
``GET /_sim/dossiers`` and ``/_sim/dossiers/{code}`` (what the portal holds),
``PUT /_sim/dossiers/{code}`` (overwrite fields: plant drift), ``DELETE /_sim/dossiers/{code}``.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from connectors.portal import protocol
from router.identifiers import is_agency_code, is_dossier_code
from simulators.portal_rules import Invalid, check_progress, check_record
from simulators.server import Faults, SimulatorState, simulator_app

USERNAME = "lienthong"
PASSWORD = "demo-password"  # noqa: S105 - the simulator's demo credential


@dataclass
class PortalFaults:
    """The portal's own faults (the shared ones are in :class:`simulators.server.Faults`)."""

    session_ttl_s: float = 3600.0
    already_exists_next: int = 0  # the next N creates are answered "already exists"
    malformed_next: int = 0  # the next N service replies are garbled (after the work is done)


class Store:
    """The dossiers and call logs, in memory, written through to SQLite when given a path."""

    def __init__(self, path: Path | None) -> None:
        self.dossiers: dict[str, dict[str, Any]] = {}
        self.progress: dict[str, list[dict[str, Any]]] = {}
        self.log: dict[str, list[dict[str, Any]]] = {}
        self.seq = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS dossier (code TEXT PRIMARY KEY, record BLOB)")
            self._db.execute("CREATE TABLE IF NOT EXISTS progress (code TEXT, item BLOB)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS call (seq INTEGER PRIMARY KEY, code TEXT, entry BLOB)"
            )
            for code, record in self._db.execute("SELECT code, record FROM dossier"):
                self.dossiers[code] = orjson.loads(record)
            for code, item in self._db.execute("SELECT code, item FROM progress ORDER BY rowid"):
                self.progress.setdefault(code, []).append(orjson.loads(item))
            for seq, code, entry in self._db.execute("SELECT seq, code, entry FROM call ORDER BY seq"):
                self.log.setdefault(code, []).append(orjson.loads(entry))
                self.seq = max(self.seq, seq)

    def put(self, code: str, record: dict[str, Any]) -> None:
        self.dossiers[code] = record
        if self._db is not None:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO dossier (code, record) VALUES (?, ?)",
                    (code, orjson.dumps(record)),
                )

    def delete(self, code: str) -> None:
        self.dossiers.pop(code, None)
        if self._db is not None:
            with self._lock:
                self._db.execute("DELETE FROM dossier WHERE code = ?", (code,))

    def add_progress(self, code: str, item: dict[str, Any]) -> None:
        self.progress.setdefault(code, []).append(item)
        if self._db is not None:
            with self._lock:
                self._db.execute(
                    "INSERT INTO progress (code, item) VALUES (?, ?)", (code, orjson.dumps(item))
                )

    def record_call(self, code: str, entry: dict[str, Any]) -> None:
        self.seq += 1
        entry = {"seq": self.seq, **entry}
        self.log.setdefault(code, []).append(entry)
        if self._db is not None:
            with self._lock:
                self._db.execute(
                    "INSERT INTO call (seq, code, entry) VALUES (?, ?, ?)",
                    (self.seq, code, orjson.dumps(entry)),
                )

    def clear(self) -> None:
        self.dossiers.clear()
        self.progress.clear()
        self.log.clear()
        if self._db is not None:
            with self._lock:
                for table in ("dossier", "progress", "call"):
                    self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _reply(code: str | int, message: str, **extra: Any) -> Response:
    return JSONResponse({"error_code": code, "message": message, **extra})


@dataclass
class Portal:
    store: Store
    faults: PortalFaults = field(default_factory=PortalFaults)
    username: str = USERNAME
    password: str = PASSWORD
    sessions: dict[str, float] = field(default_factory=dict)  # session -> expiry (monotonic)
    logins: int = 0
    clock: Callable[[], float] = time.monotonic

    # --- the portal's routes -----------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        body = await _json_body(request)
        if body is None:
            return _reply(protocol.INVALID, "Yêu cầu không phải JSON hợp lệ")
        if body.get("username") != self.username or body.get("password") != self.password:
            return _reply(protocol.BAD_CREDENTIALS, "Sai tên đăng nhập hoặc mật khẩu")
        session = secrets.token_urlsafe(24)
        self.sessions[session] = self.clock() + self.faults.session_ttl_s
        self.logins += 1
        return _reply(0, "Thành công", session=session)

    async def service(self, request: Request) -> Response:
        body = await _json_body(request)
        if body is None:
            return _reply(protocol.INVALID, "Yêu cầu không phải JSON hợp lệ")
        session = body.get("session")
        expiry = self.sessions.get(session) if isinstance(session, str) else None
        if expiry is None or self.clock() >= expiry:
            self.sessions.pop(session, None) if isinstance(session, str) else None
            return _reply(protocol.SESSION_EXPIRED, "Phiên làm việc không hợp lệ hoặc đã hết hạn")
        madonvi = body.get("madonvi")
        if not isinstance(madonvi, str) or not is_agency_code(madonvi):
            return _reply(protocol.INVALID, f"madonvi: mã đơn vị không hợp lệ {madonvi!r}")
        operation = body.get("service")
        handler = {
            protocol.LOOKUP: self._lookup,
            protocol.SYNC: self._sync,
            protocol.PROGRESS: self._progress,
        }.get(operation if isinstance(operation, str) else "")
        if handler is None:
            return _reply(protocol.INVALID, f"service: không hỗ trợ {operation!r}")
        try:
            reply = handler(body)
        except Invalid as error:
            reply = (protocol.INVALID, str(error), {})
        code, message, extra = reply
        if self.faults.malformed_next > 0:
            self.faults.malformed_next -= 1
            # the work is done, but the client cannot read that it was
            garbled = b'{"error_code": ' if self.faults.malformed_next % 2 == 0 else b'{"message": "OK"}'
            return Response(garbled, media_type="application/json")
        return _reply(code, message, **extra)

    def _lookup(self, body: Mapping[str, Any]) -> tuple[str | int, str, dict[str, Any]]:
        code = body.get("mahoso")
        if not isinstance(code, str) or not is_dossier_code(code):
            raise Invalid(f"mahoso: mã hồ sơ không hợp lệ {code!r}")
        record = self.store.dossiers.get(code)
        outcome = protocol.NOT_FOUND if record is None else "0"
        self.store.record_call(code, {"service": protocol.LOOKUP, "error_code": outcome})
        if record is None:
            return protocol.NOT_FOUND, "Không tìm thấy hồ sơ", {}
        return 0, "Thành công", {"data": record}

    def _sync(self, body: Mapping[str, Any]) -> tuple[str | int, str, dict[str, Any]]:
        updating = body.get("isUpdating")
        if updating not in ("True", "False"):
            raise Invalid(f'isUpdating: phải là "True" hoặc "False", nhận {updating!r}')
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise Invalid("data: phải là danh sách hồ sơ không rỗng")
        records = [check_record(item, f"data[{i}]") for i, item in enumerate(items)]
        for record in records:  # all or nothing: check every record first
            code = record["MaHoSo"]
            exists = code in self.store.dossiers
            if updating == "False" and self.faults.already_exists_next > 0:
                self.faults.already_exists_next -= 1
                self.store.put(code, record)  # an earlier create landed; its reply was lost
                exists = True
            if updating == "False" and exists:
                self._log_sync(code, updating, record, protocol.ALREADY_EXISTS)
                return protocol.ALREADY_EXISTS, f"Hồ sơ {code} đã tồn tại", {}
            if updating == "True" and not exists:
                self._log_sync(code, updating, record, protocol.DOES_NOT_EXIST)
                return protocol.DOES_NOT_EXIST, f"Hồ sơ {code} không tồn tại", {}
        for record in records:
            self.store.put(record["MaHoSo"], record)
            self._log_sync(record["MaHoSo"], updating, record, "0")
        return 0, "Thành công", {}

    def _log_sync(self, code: str, updating: str, record: Mapping[str, Any], outcome: str) -> None:
        self.store.record_call(
            code,
            {
                "service": protocol.SYNC,
                "isUpdating": updating,
                "status": record["TrangThaiHoSo"],
                "error_code": outcome,
            },
        )

    def _progress(self, body: Mapping[str, Any]) -> tuple[str | int, str, dict[str, Any]]:
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise Invalid("data: phải là danh sách không rỗng")
        steps = [check_progress(item, f"data[{i}]") for i, item in enumerate(items)]
        for step in steps:
            if step["MaHoSo"] not in self.store.dossiers:
                self.store.record_call(
                    step["MaHoSo"], {"service": protocol.PROGRESS, "error_code": protocol.DOES_NOT_EXIST}
                )
                return protocol.DOES_NOT_EXIST, f"Hồ sơ {step['MaHoSo']} không tồn tại", {}
        for step in steps:
            self.store.add_progress(step["MaHoSo"], step)
            self.store.record_call(
                step["MaHoSo"], {"service": protocol.PROGRESS, "status": step["TrangThai"], "error_code": "0"}
            )
        return 0, "Thành công", {}

    # --- control routes ----------------------------------------------------------------------

    async def set_faults(self, request: Request) -> Response:
        body = await _json_body(request)
        try:
            if not isinstance(body, dict):
                raise TypeError("a JSON object")
            self.faults = PortalFaults(**{**asdict(self.faults), **body})
        except TypeError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(asdict(self.faults))

    async def expire_sessions(self, _: Request) -> Response:
        count = len(self.sessions)
        self.sessions.clear()
        return JSONResponse({"expired": count})

    async def call_log(self, request: Request) -> Response:
        return JSONResponse(self.store.log.get(request.path_params["code"], []))

    async def all_logs(self, _: Request) -> Response:
        return JSONResponse(self.store.log)

    async def dossiers(self, _: Request) -> Response:
        return JSONResponse(self.store.dossiers)

    async def dossier(self, request: Request) -> Response:
        code = request.path_params["code"]
        if request.method == "DELETE":
            self.store.delete(code)
            return JSONResponse({"deleted": code})
        if request.method == "PUT":
            body = await _json_body(request)
            if not isinstance(body, dict):
                return JSONResponse({"error": "a JSON object of fields"}, status_code=400)
            self.store.put(code, {**self.store.dossiers.get(code, {"MaHoSo": code}), **body})
        record = self.store.dossiers.get(code)
        if record is None:
            return JSONResponse({"error": f"no dossier {code}"}, status_code=404)
        return JSONResponse({**record, "_progress": self.store.progress.get(code, [])})

    async def clear(self, _: Request) -> Response:
        self.store.clear()
        return JSONResponse({"cleared": True})

    async def counts(self, _: Request) -> Response:
        return JSONResponse(
            {"logins": self.logins, "dossiers": len(self.store.dossiers), "calls": self.store.seq}
        )

    def routes(self) -> list[Route]:
        return [
            Route(protocol.LOGIN_PATH, self.login, methods=["POST"]),
            Route(protocol.SERVICE_PATH, self.service, methods=["POST"]),
            Route("/_sim/portal", self.set_faults, methods=["PUT"]),
            Route("/_sim/portal", self.counts, methods=["GET"]),
            Route("/_sim/expire-sessions", self.expire_sessions, methods=["POST"]),
            Route("/_sim/log", self.all_logs, methods=["GET"]),
            Route("/_sim/log/{code}", self.call_log, methods=["GET"]),
            Route("/_sim/dossiers", self.dossiers, methods=["GET"]),
            Route("/_sim/dossiers", self.clear, methods=["DELETE"]),
            Route("/_sim/dossiers/{code}", self.dossier, methods=["GET", "PUT", "DELETE"]),
        ]


async def _json_body(request: Request) -> dict[str, Any] | None:
    """The request's JSON object; None for anything else (not JSON, or JSON but not an object)."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def create_app(
    faults: Faults | None = None,
    *,
    seed: int = 0,
    state: Path | str | None = None,
    portal_faults: PortalFaults | None = None,
) -> tuple[ASGIApp, SimulatorState]:
    """The portal simulator's ASGI app; ``state`` is the SQLite file that keeps the dossiers
    across restarts (in memory only when None). ``seed`` is accepted for the CLI's sake: the
    portal starts empty and has no seeded data."""
    del seed
    portal = Portal(Store(Path(state) if state is not None else None), portal_faults or PortalFaults())
    app, sim_state = simulator_app(portal.routes(), faults or Faults())
    sim_state.portal = portal  # type: ignore[attr-defined]  # tests reach the portal through it
    return app, sim_state


def portal_of(state: SimulatorState) -> Portal:
    portal: Portal = state.portal  # type: ignore[attr-defined]
    return portal
