"""The sockets ``lienthong serve`` listens on, and what uvicorn believes of a proxy in front.

Without ``http.metrics_listen`` uvicorn binds the public address itself. With it, both sockets
are bound here and given to the one server, whose application serves ``/metrics`` on the
internal socket only (:class:`adapters.http.metrics_listener.MetricsListener`); one server keeps
one graceful shutdown for both.

``http.trusted_proxies`` are the addresses whose ``X-Forwarded-Proto`` and ``X-Forwarded-For``
uvicorn applies to the request (its ``proxy_headers``): behind a TLS-terminating proxy the
request's scheme is then ``https``, and the console's cookie is sent ``Secure``. No proxy is
trusted unless listed: a client cannot claim https, or another address, by a header.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from adapters.http.metrics_listener import MetricsListener
from lienthong.config.settings import HttpSettings


def proxy_options(http: HttpSettings) -> dict[str, Any]:
    """uvicorn.Config's options for the trusted proxies."""
    return {"proxy_headers": bool(http.trusted_proxies), "forwarded_allow_ips": list(http.trusted_proxies)}


def with_metrics_listener(app: ASGIApp, http: HttpSettings) -> ASGIApp:
    return app if http.metrics_listen is None else MetricsListener(app, http.metrics_listen[1])


def sockets(server: uvicorn.Config, http: HttpSettings) -> list[socket.socket] | None:
    """The sockets to give ``uvicorn.Server.run`` (None: uvicorn binds the public address)."""
    if http.metrics_listen is None:
        return None
    host, port = http.metrics_listen
    if port == server.port:
        raise SystemExit(f"http.metrics_listen uses port {port}, the port of the API: give it another")
    internal = uvicorn.Config(server.app, host=host, port=port, log_config=None)
    return [server.bind_socket(), internal.bind_socket()]
