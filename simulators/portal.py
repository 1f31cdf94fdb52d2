"""A simulator of the National Public Service Portal's adapter: a real HTTP server, as strict as
the real portal is known to be (``shared/reference/portal-dvcqg.md`` §1-2) and no stricter.

Three endpoints (paths configurable, :class:`connectors.portal.envelope.Paths`): ``POST
/auth/login`` ``{username, password}`` -> ``{session, error_code: 0}``; ``POST
/adapter/service`` (integration) ``{session, madonvi, service, ...}`` with ``service`` one of
``TraCuuHoSo`` (``mahoso``), ``DongBoHoSoMC`` (``isUpdating`` "True"/"False", ``data: [...]``)
and ``CapNhatTienDoHoSoMC`` (``data: [...]``); ``POST /adapter/share`` for the catalogue
services (added by the catalogue simulator through :attr:`Portal.services`). Replies are
``{error_code, message}``; reads put the found items in ``result`` (an array: empty when the
dossier is not there, never an error code). A duplicate create is answered as the real portal
answers it through a bridge, ``error_code`` 0 (configurable) with "…đã tồn tại", and writes
nothing. A request that breaks a rule gets error ``03`` naming the field, never a crash; other
refusals (credentials, an update of a dossier it lacks, a wrong ``dstcode``) ``-1``: the real
portal's error codes are unknown, so these are the simulator's own. With ``dstcode`` set, the
login and every service call must carry that header. ``madonvi`` only has to be present (its
real format is unknown).

A provincial bridge in front of the portal (no session: the bridge holds it), on the same
store: bare JSON arrays posted to ``/bridge/DongBoHoSoMC?MaDinhDanhDV=…&isUpdating=True|False``
(Hà Giang's form), ``/bridge/ThemMoi`` and ``/bridge/CapNhat`` (Thanh Hóa's create and update
URLs), ``/bridge/CapNhatTienDoHoSoMC``, and ``GET /bridge/TraCuuHoSo?mahoso=``; with
``bridge_token`` set they want it as a bearer token.

State: the dossiers and each dossier's call log, in memory, and written through to a SQLite
file when one is given (``lienthong simulate portal --state FILE``), so it survives a restart.

Faults: the shared ones (:mod:`simulators.server`: 5xx, slow replies, an outage window) and
the portal's own, set with ``PUT /_sim/portal`` ``{session_ttl_s, already_exists_next,
malformed_next, duplicate_code, expired_status, expired_body}``: sessions that expire, creates
answered "already exists" (the dossier is stored anyway, as when an earlier create landed but
its reply was lost), replies garbled after the operation was applied, the reply to an ended
session (HTTP 401 by default). ``POST /_sim/expire-sessions`` ends every session now; its
optional body ``{status, body}`` sets that reply.

Control routes for tests: ``GET /_sim/log/{code}`` (the dossier's calls in order, each with
``received_at``: when the portal received it, in seconds since the epoch on the simulator's own
clock, so a client on the same machine can time delivery from the record, not by polling),
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
from connectors.portal.envelope import Paths
from simulators.portal_catalogue import PROCEDURES, Catalogue
from simulators.portal_rules import Invalid, check_progress, check_record
from simulators.server import Faults, SimulatorState, simulator_app

USERNAME = "lienthong"
PASSWORD = "demo-password"  # noqa: S105 - the simulator's demo credential
INVALID = "03"  # the simulator's refusal of a request that breaks a rule (the message names it)
REFUSED = "-1"  # its other refusals; the real portal's error codes are unknown

BRIDGE_SYNC = "/bridge/DongBoHoSoMC"
BRIDGE_CREATE = "/bridge/ThemMoi"
BRIDGE_UPDATE = "/bridge/CapNhat"
BRIDGE_PROGRESS = "/bridge/CapNhatTienDoHoSoMC"
BRIDGE_LOOKUP = "/bridge/TraCuuHoSo"
BRIDGE_POSTS = (BRIDGE_SYNC, BRIDGE_CREATE, BRIDGE_UPDATE, BRIDGE_PROGRESS)


@dataclass
class PortalFaults:
    """The portal's own faults and replies (the shared faults are in :class:`simulators.server.Faults`)."""

    session_ttl_s: float = 3600.0
    already_exists_next: int = 0  # the next N creates are answered "already exists"
    malformed_next: int = 0  # the next N service replies are garbled (after the work is done)
    duplicate_code: str = "0"  # the error_code of "already exists" (seen: "0", "3", "-3")
    # the reply to a call with an unknown or expired session (the real one is unknown)
    expired_status: int = 401
    expired_body: dict[str, Any] = field(
        default_factory=lambda: {
            "error_code": REFUSED,
            "message": "Phiên làm việc không hợp lệ hoặc đã hết hạn",
        }
    )


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

    def record_call(self, code: str, entry: dict[str, Any], received_at: float) -> None:
        """Logs a call about dossier ``code``, received at ``received_at`` (seconds since the epoch)."""
        self.seq += 1
        entry = {"seq": self.seq, **entry, "received_at": received_at}
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


# what a service handler answers: error_code, message, more top-level keys (``result``)
Answer = tuple[str | int, str, dict[str, Any]]
Handler = Callable[[Mapping[str, Any]], Answer]


@dataclass
class Portal:
    store: Store
    faults: PortalFaults = field(default_factory=PortalFaults)
    username: str = USERNAME
    password: str = PASSWORD
    paths: Paths = field(default_factory=Paths)
    dstcode: str | None = None  # when set, login and every service call must carry it
    bridge_token: str | None = None  # when set, the bridge's routes want it as a bearer token
    sessions: dict[str, float] = field(default_factory=dict)  # session -> expiry (monotonic)
    logins: int = 0
    clock: Callable[[], float] = time.monotonic
    # when each call was received, for the call log: wall-clock seconds, readable by other processes
    wall_clock: Callable[[], float] = time.time
    # the call being answered's (its handler runs synchronously, within _answer)
    _received_at: float = field(default=0.0, init=False, repr=False)
    # endpoint -> service -> handler; the catalogue simulator adds the share endpoint's services
    services: dict[str, dict[str, Handler]] = field(default_factory=dict)
    catalogue: Catalogue = field(default_factory=Catalogue)  # simulators.portal_catalogue

    def __post_init__(self) -> None:
        self.services.setdefault("integration", {}).update(
            {protocol.LOOKUP: self._lookup, protocol.SYNC: self._sync, protocol.PROGRESS: self._progress}
        )
        self.services.setdefault("share", {})
        for endpoint, handlers in self.catalogue.handlers().items():
            self.services[endpoint].update(handlers)

    # --- the portal's routes -----------------------------------------------------------------

    def _wrong_dstcode(self, request: Request) -> Response | None:
        if self.dstcode and request.headers.get("dstcode") != self.dstcode:
            return _reply(REFUSED, "dstcode không hợp lệ")
        return None

    async def login(self, request: Request) -> Response:
        body = await _json_body(request)
        if body is None:
            return _reply(INVALID, "Yêu cầu không phải JSON hợp lệ")
        if (wrong := self._wrong_dstcode(request)) is not None:
            return wrong
        if body.get("username") != self.username or body.get("password") != self.password:
            return _reply(REFUSED, "Sai tên đăng nhập hoặc mật khẩu")
        session = secrets.token_urlsafe(24)
        self.sessions[session] = self.clock() + self.faults.session_ttl_s
        self.logins += 1
        return _reply(0, "Thành công", session=session)

    async def integration(self, request: Request) -> Response:
        return await self._service(request, "integration")

    async def share(self, request: Request) -> Response:
        return await self._service(request, "share")

    async def _service(self, request: Request, endpoint: str) -> Response:
        received_at = self.wall_clock()
        body = await _json_body(request)
        if body is None:
            return _reply(INVALID, "Yêu cầu không phải JSON hợp lệ")
        if (wrong := self._wrong_dstcode(request)) is not None:
            return wrong
        session = body.get("session")
        expiry = self.sessions.get(session) if isinstance(session, str) else None
        if expiry is None or self.clock() >= expiry:
            if isinstance(session, str):
                self.sessions.pop(session, None)
            return JSONResponse(self.faults.expired_body, status_code=self.faults.expired_status)
        madonvi = body.get("madonvi")
        if not isinstance(madonvi, str) or not madonvi.strip():  # its real format is unknown
            return _reply(INVALID, f"madonvi: thiếu mã đơn vị {madonvi!r}")
        operation = body.get("service")
        handler = self.services[endpoint].get(operation if isinstance(operation, str) else "")
        if handler is None:
            return _reply(INVALID, f"service: không hỗ trợ {operation!r}")
        return self._answer(handler, body, received_at)

    def _answer(self, handler: Handler, body: Mapping[str, Any], received_at: float) -> Response:
        self._received_at = received_at
        try:
            code, message, extra = handler(body)
        except Invalid as error:
            code, message, extra = INVALID, str(error), {}
        if self.faults.malformed_next > 0:
            self.faults.malformed_next -= 1
            # the work is done, but the client cannot read that it was
            garbled = b'{"error_code": ' if self.faults.malformed_next % 2 == 0 else b'{"message": "OK"}'
            return Response(garbled, media_type="application/json")
        return _reply(code, message, **extra)

    def _lookup(self, body: Mapping[str, Any]) -> Answer:
        code = body.get(protocol.LOOKUP_KEY)
        if not isinstance(code, str) or not code.strip():
            raise Invalid(f"{protocol.LOOKUP_KEY}: thiếu mã hồ sơ {code!r}")
        record = self.store.dossiers.get(code)
        self.store.record_call(
            code,
            {"service": protocol.LOOKUP, "error_code": "0", "found": record is not None},
            self._received_at,
        )
        # "not found" is an empty result, never an error code
        return 0, "Thành công", {"result": [] if record is None else [record]}

    def _sync(self, body: Mapping[str, Any]) -> Answer:
        updating = body.get(protocol.UPDATING_KEY)
        if updating not in (protocol.TRUE, protocol.FALSE):
            raise Invalid(f'isUpdating: phải là "True" hoặc "False", nhận {updating!r}')
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise Invalid("data: phải là danh sách hồ sơ không rỗng")
        records = [check_record(item, f"data[{i}]") for i, item in enumerate(items)]
        for record in records:  # all or nothing: check every record first
            code = record["MaHoSo"]
            exists = code in self.store.dossiers
            if updating == protocol.FALSE and self.faults.already_exists_next > 0:
                self.faults.already_exists_next -= 1
                self.store.put(code, record)  # an earlier create landed; its reply was lost
                exists = True
            if updating == protocol.FALSE and exists:
                # as a real portal answers through a bridge: a success code, nothing written
                self._log_sync(code, updating, record, self.faults.duplicate_code, written=False)
                return self.faults.duplicate_code, f"Hồ sơ {code} đã tồn tại", {}
            if updating == protocol.TRUE and not exists:
                self._log_sync(code, updating, record, REFUSED, written=False)
                return REFUSED, f"Hồ sơ {code} không tồn tại", {}
        for record in records:
            self.store.put(record["MaHoSo"], record)
            self._log_sync(record["MaHoSo"], updating, record, "0", written=True)
        return 0, "Thành công", {}

    def _log_sync(
        self, code: str, updating: str, record: Mapping[str, Any], outcome: str, *, written: bool
    ) -> None:
        self.store.record_call(
            code,
            {
                "service": protocol.SYNC,
                "isUpdating": updating,
                "status": record["TrangThaiHoSo"],
                "error_code": outcome,
                "written": written,
            },
            self._received_at,
        )

    def _progress(self, body: Mapping[str, Any]) -> Answer:
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise Invalid("data: phải là danh sách không rỗng")
        steps = [check_progress(item, f"data[{i}]") for i, item in enumerate(items)]
        for step in steps:
            if step["MaHoSo"] not in self.store.dossiers:
                self.store.record_call(
                    step["MaHoSo"], {"service": protocol.PROGRESS, "error_code": REFUSED}, self._received_at
                )
                return REFUSED, f"Hồ sơ {step['MaHoSo']} không tồn tại", {}
        for step in steps:
            self.store.add_progress(step["MaHoSo"], step)
            self.store.record_call(
                step["MaHoSo"],
                {"service": protocol.PROGRESS, "status": step["TrangThai"], "error_code": "0"},
                self._received_at,
            )
        return 0, "Thành công", {}

    # --- a provincial bridge in front of the portal ------------------------------------------

    async def bridge(self, request: Request) -> Response:
        """The bridge's routes: bare JSON arrays, no session (the bridge holds the portal's)."""
        received_at = self.wall_clock()
        if self.bridge_token and request.headers.get("authorization") != f"Bearer {self.bridge_token}":
            return JSONResponse({"error_code": REFUSED, "message": "Unauthorized"}, status_code=401)
        route = request.url.path
        if route == BRIDGE_LOOKUP:
            lookup = {protocol.LOOKUP_KEY: request.query_params.get("mahoso")}
            return self._answer(self._lookup, lookup, received_at)
        try:
            items = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            items = None
        if not isinstance(items, list):
            return _reply(INVALID, "Dữ liệu phải là một mảng JSON")
        if route == BRIDGE_PROGRESS:
            return self._answer(self._progress, {"data": items}, received_at)
        if route == BRIDGE_SYNC:  # one URL, the agency and isUpdating as query parameters (HG)
            if not request.query_params.get("MaDinhDanhDV"):
                return _reply(INVALID, "MaDinhDanhDV: thiếu mã định danh đơn vị")
            updating = request.query_params.get(protocol.UPDATING_KEY)
        else:  # a create URL and an update URL (TD)
            updating = protocol.TRUE if route == BRIDGE_UPDATE else protocol.FALSE
        return self._answer(self._sync, {protocol.UPDATING_KEY: updating, "data": items}, received_at)

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

    async def expire_sessions(self, request: Request) -> Response:
        """Ends every session now; an optional ``{status, body}`` sets the reply later calls
        with an ended session get."""
        given = await _json_body(request) if await request.body() else {}
        if given is None or set(given) - {"status", "body"}:
            return JSONResponse({"error": "an optional JSON object {status, body}"}, status_code=400)
        status, body = (
            given.get("status", self.faults.expired_status),
            given.get("body", self.faults.expired_body),
        )
        if not isinstance(status, int) or not 200 <= status <= 599 or not isinstance(body, dict):
            return JSONResponse({"error": "status: an HTTP status; body: a JSON object"}, status_code=400)
        self.faults.expired_status, self.faults.expired_body = status, body
        count = len(self.sessions)
        self.sessions.clear()
        return JSONResponse({"expired": count, "status": status, "body": body})

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
            Route(self.paths.auth, self.login, methods=["POST"]),
            Route(self.paths.integration, self.integration, methods=["POST"]),
            Route(self.paths.share, self.share, methods=["POST"]),
            Route(BRIDGE_LOOKUP, self.bridge, methods=["GET"]),
            *(Route(path, self.bridge, methods=["POST"]) for path in BRIDGE_POSTS),
            *self.catalogue.routes(),
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
    paths: Paths | None = None,
    dstcode: str | None = None,
    bridge_token: str | None = None,
    catalogue_size: int = PROCEDURES,
) -> tuple[ASGIApp, SimulatorState]:
    """The portal simulator's ASGI app; ``state`` is the SQLite file that keeps the dossiers
    across restarts (in memory only when None); ``paths`` its three endpoints; ``dstcode`` the
    header it then requires; ``bridge_token`` the bearer token its bridge routes then require;
    ``catalogue_size`` how many procedures its catalogue lists (the real portal's ~2,000 by default).
    ``seed`` is accepted for the CLI's sake: the portal starts empty and has no seeded data."""
    del seed
    portal = Portal(
        Store(Path(state) if state is not None else None),
        portal_faults or PortalFaults(),
        paths=paths or Paths(),
        dstcode=dstcode,
        bridge_token=bridge_token,
        catalogue=Catalogue(size=catalogue_size),
    )
    app, sim_state = simulator_app(portal.routes(), faults or Faults())
    sim_state.portal = portal  # type: ignore[attr-defined]  # tests reach the portal through it
    return app, sim_state


def portal_of(state: SimulatorState) -> Portal:
    portal: Portal = state.portal  # type: ignore[attr-defined]
    return portal
