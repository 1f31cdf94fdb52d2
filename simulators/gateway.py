"""A simulator of an integration platform's gateway (a provincial LGSP or the national NGSP, which
are commonly built on WSO2 API Manager) in front of the registry simulators.

- ``POST /token``: OAuth2 client credentials (``grant_type=client_credentials``), the consumer key
  and secret as HTTP Basic or in the form body; answers ``{access_token, token_type, expires_in,
  scope}``. A wrong key or secret is 401 ``invalid_client``; a grant other than client
  credentials 400 ``unsupported_grant_type``.
- ``/<base path>/...`` of each service: with a valid ``Authorization: Bearer`` token, the request
  is passed on to the service's registry (its URL plus the rest of the path), and the reply
  comes back as it is; without one, or with one that is unknown or expired, 401 with WSO2's
  ``900901`` "Invalid Credentials" body and no call to the registry. Headers the gateway requires
  (``required_headers``, the platform's metadata) missing: 400.
- Tokens live ``token_lifetime_s``. Tests shorten that, or expire every token at once
  (``POST /_sim/gateway/expire``) to exercise a client's renewal after a 401.
- The token endpoint can be made to fail (``PUT /_sim/gateway/token-endpoint`` with ``{"mode":
  ...}``): ``down`` (503), ``html`` (200 with an HTML page), ``garbage`` (200, not JSON),
  ``huge`` (200, a JSON body of 1 MiB), ``up``.
- What the gateway saw (:class:`GatewayRecord`): ``GET /_sim/gateway/record``; zeroed by ``POST
  /_sim/gateway/reset``.

``lienthong simulate gateway`` runs it in front of the registry simulators on their usual ports
(population 9201, business 9202, vehicle 9203), with the consumer key and secret of
``LIENTHONG_GATEWAY_CONSUMER_KEY`` and ``LIENTHONG_GATEWAY_CONSUMER_SECRET`` (demo values
otherwise).
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from simulators.registry_data import DEFAULT_SEED
from simulators.server import CONTROL_PREFIX, Faults, SimulatorState, simulator_app

TOKEN_PATH: Final = "/token"  # noqa: S105 (a path)
# the services' base paths on the demo gateway, and the endpoints they lead to (a SOAP service's
# own address, a REST API's root) where the simulators listen by default
DEMO_SERVICES: Final = {
    "population": ("/dancu/1.0", "http://127.0.0.1:9201/population"),
    "business": ("/dkdn/1.0", "http://127.0.0.1:9202"),
    "vehicle": ("/dangkiem/1.0", "http://127.0.0.1:9203/vehicle"),
}
DEMO_CONSUMER_KEY: Final = "lienthong-demo"
DEMO_CONSUMER_SECRET: Final = "demo-consumer-secret"  # noqa: S105 (the simulator's own, for demos)
TOKEN_MODES: Final = frozenset({"up", "down", "html", "garbage", "huge"})
# what is not passed on to the registry: the gateway's own credentials, and what the hop changes
_NOT_FORWARDED = frozenset({"authorization", "host", "content-length", "connection", "transfer-encoding"})
_NOT_RETURNED = frozenset({"content-length", "connection", "transfer-encoding", "content-encoding"})


@dataclass(slots=True)
class Call:
    """One request to a service's path: what came in, what went out."""

    service: str
    method: str
    path: str
    status: int
    bearer: str  # "valid", "missing", "unknown" or "expired"
    headers: dict[str, str]  # the platform metadata headers the request carried (required_headers)


@dataclass(slots=True)
class GatewayRecord:
    token_requests: int = 0
    tokens_issued: int = 0
    token_refusals: int = 0
    token_client_auth: list[str] = field(default_factory=list)  # "basic" or "form", per request
    calls: list[Call] = field(default_factory=list)

    def unauthorized(self) -> int:
        return sum(1 for call in self.calls if call.status == 401)

    def forwarded(self) -> int:
        return sum(1 for call in self.calls if call.bearer == "valid" and call.status != 400)


@dataclass
class Gateway:
    """The gateway's state: its services (name -> (base path, registry URL)), credentials and tokens."""

    services: Mapping[str, tuple[str, str]]
    consumer_key: str = DEMO_CONSUMER_KEY
    consumer_secret: str = DEMO_CONSUMER_SECRET
    token_lifetime_s: float = 300.0
    required_headers: tuple[str, ...] = ()
    issuer_mode: str = "up"
    record: GatewayRecord = field(default_factory=GatewayRecord)
    tokens: dict[str, float] = field(default_factory=dict)
    _client: httpx.AsyncClient | None = None

    def expire_tokens(self) -> None:
        """Every token issued so far stops working now (as a revocation or an expiry would)."""
        now = time.monotonic()
        self.tokens = dict.fromkeys(self.tokens, now)

    def reset(self) -> None:
        self.record = GatewayRecord()

    async def token(self, request: Request) -> Response:
        self.record.token_requests += 1
        mode = self.issuer_mode
        if mode == "down":
            return Response("token service unavailable", status_code=503, media_type="text/plain")
        if mode == "html":
            return Response("<html><body><h1>Maintenance</h1></body></html>", media_type="text/html")
        if mode == "garbage":
            return Response(b"\x00\x01not a token", media_type="application/json")
        if mode == "huge":
            return Response(b'{"access_token": "' + b"a" * (1 << 20) + b'"}', media_type="application/json")
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        key, secret, how = _client_credentials(request.headers.get("authorization", ""), form)
        self.record.token_client_auth.append(how)
        if key != self.consumer_key or secret != self.consumer_secret:
            self.record.token_refusals += 1
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client Authentication failed."}, 401
            )
        if form.get("grant_type") != ["client_credentials"]:
            self.record.token_refusals += 1
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        value = secrets.token_hex(16)
        self.tokens[value] = time.monotonic() + self.token_lifetime_s
        self.record.tokens_issued += 1
        return JSONResponse(
            {
                "access_token": value,
                "token_type": "Bearer",
                "expires_in": int(self.token_lifetime_s) or 1,
                "scope": "default",
            }
        )

    def endpoint(self, name: str) -> Any:
        """The handler of the service ``name``'s paths."""

        async def handle(request: Request) -> Response:
            return await self.service(name, request)

        return handle

    async def service(self, name: str, request: Request) -> Response:
        base, target = self.services[name]
        rest = request.url.path.removeprefix(base)
        metadata = {h: request.headers[h] for h in self.required_headers if h in request.headers}
        bearer = self._bearer_state(request.headers.get("authorization", ""))
        if bearer != "valid":
            self.record.calls.append(Call(name, request.method, rest, 401, bearer, metadata))
            return JSONResponse(
                {
                    "code": "900901",
                    "message": "Invalid Credentials",
                    "description": "Invalid Credentials. Make sure you have provided the correct security credentials",
                },
                status_code=401,
                headers={"WWW-Authenticate": 'OAuth2 realm="WSO2 API Manager", error="invalid_token"'},
            )
        missing = [h for h in self.required_headers if h not in request.headers]
        if missing:
            self.record.calls.append(Call(name, request.method, rest, 400, bearer, metadata))
            return JSONResponse({"code": "400", "message": f"missing headers: {', '.join(missing)}"}, 400)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30, trust_env=False)
        url = target.rstrip("/") + rest
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
        try:
            reply = await self._client.request(
                request.method,
                url,
                params=request.query_params,
                content=await request.body(),
                headers=headers,
            )
        except httpx.HTTPError:
            self.record.calls.append(Call(name, request.method, rest, 502, bearer, metadata))
            return JSONResponse(
                {
                    "code": "101503",
                    "message": "Runtime Error",
                    "description": "Error connecting to the back end",
                },
                502,
            )
        self.record.calls.append(Call(name, request.method, rest, reply.status_code, bearer, metadata))
        returned = {k: v for k, v in reply.headers.items() if k.lower() not in _NOT_RETURNED}
        return Response(reply.content, status_code=reply.status_code, headers=returned)

    def _bearer_state(self, header: str) -> str:
        if not header.startswith("Bearer "):
            return "missing"
        expires = self.tokens.get(header.removeprefix("Bearer ").strip())
        if expires is None:
            return "unknown"
        return "valid" if time.monotonic() < expires else "expired"

    def routes(self) -> list[BaseRoute]:
        control = f"{CONTROL_PREFIX}gateway/"

        async def record(_: Request) -> Response:
            return JSONResponse(asdict(self.record))

        async def expire(_: Request) -> Response:
            self.expire_tokens()
            return JSONResponse({"expired": len(self.tokens)})

        async def reset(_: Request) -> Response:
            self.reset()
            return JSONResponse({})

        async def token_endpoint(request: Request) -> Response:
            mode = (await request.json()).get("mode")
            if mode not in TOKEN_MODES:
                return JSONResponse({"error": f"mode is one of {sorted(TOKEN_MODES)}"}, 400)
            self.issuer_mode = mode
            return JSONResponse({"mode": mode})

        methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
        return [
            Route(f"{control}record", record, methods=["GET"]),
            Route(f"{control}expire", expire, methods=["POST"]),
            Route(f"{control}reset", reset, methods=["POST"]),
            Route(f"{control}token-endpoint", token_endpoint, methods=["PUT"]),
            Route(TOKEN_PATH, self.token, methods=["POST"]),
            *(
                route
                for name, (base, _) in self.services.items()
                for route in (
                    # the base path itself is a SOAP service's endpoint
                    Route(base.rstrip("/"), self.endpoint(name), methods=methods),
                    Route(base.rstrip("/") + "/{rest:path}", self.endpoint(name), methods=methods),
                )
            ),
        ]


def _client_credentials(authorization: str, form: Mapping[str, list[str]]) -> tuple[str, str, str]:
    """The consumer key and secret of a token request: HTTP Basic, else the form's fields."""
    if authorization.startswith("Basic "):
        try:
            key, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", "", "basic"
        return key, secret, "basic"
    return form.get("client_id", [""])[0], form.get("client_secret", [""])[0], "form"


def create_gateway(gateway: Gateway, faults: Faults | None = None) -> tuple[ASGIApp, SimulatorState]:
    """The gateway's application (with the simulators' fault flags and control routes)."""
    return simulator_app(gateway.routes(), faults or Faults())


def create_app(faults: Faults | None = None, *, seed: int = DEFAULT_SEED) -> tuple[ASGIApp, SimulatorState]:
    """``lienthong simulate gateway``: the demo gateway in front of the registry simulators on
    their usual ports (``seed`` is the registries' business: unused here)."""
    del seed
    gateway = Gateway(
        services=DEMO_SERVICES,
        consumer_key=os.environ.get("LIENTHONG_GATEWAY_CONSUMER_KEY", DEMO_CONSUMER_KEY),
        consumer_secret=os.environ.get("LIENTHONG_GATEWAY_CONSUMER_SECRET", DEMO_CONSUMER_SECRET),
    )
    return create_gateway(gateway, faults)
