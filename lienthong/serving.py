"""The bus as a process: a configuration file served under uvicorn until SIGTERM or Ctrl-C, with
SIGHUP reloading the configuration (``lienthong serve``)."""

from __future__ import annotations

import signal
from pathlib import Path

import uvicorn
from prometheus_client import disable_created_metrics

from adapters.http.head_limit import bounded_head_protocol
from adapters.provider_http import AiohttpClient, ClientFactory
from lienthong.http_api import http_app
from lienthong.listeners import proxy_options, sockets, with_metrics_listener
from lienthong.loading import load
from lienthong.logs import LogFormat
from lienthong.logs import configure as configure_logs
from lienthong.runtime import Runtime


def serve(
    config: Path,
    *,
    host: str | None = None,
    port: int | None = None,
    log_format: LogFormat | None = None,
    rest_client: ClientFactory = AiohttpClient,
) -> None:
    """Runs the bus under uvicorn until SIGTERM or Ctrl-C; logs in ``log_format`` (lienthong.logs).
    REST connectors call through clients of ``rest_client``'s class."""
    settings, registry = load(config)
    configure_logs(log_format)
    # prometheus_client's *_created series (a creation time beside each counter and histogram)
    # double what Prometheus stores; no rule or dashboard reads them
    disable_created_metrics()  # type: ignore[no-untyped-call]
    runtime = Runtime(settings, registry, reload_on_sighup=True, rest_client=rest_client)
    server = uvicorn.Config(
        with_metrics_listener(http_app(runtime), settings.http),
        host=host or settings.http.host,
        port=settings.http.port if port is None else port,
        loop="uvloop",
        http=bounded_head_protocol(settings.http.max_head_bytes),
        lifespan="on",
        access_log=False,
        log_config=None,  # lienthong.logs configured the handlers: uvicorn's lines in the same format
        timeout_graceful_shutdown=30,
        # Clients keep connections in their pools longer than uvicorn's 5 s default; closing an idle
        # one just as a client reuses it makes that request fail with a read error.
        timeout_keep_alive=75,
        **proxy_options(settings.http),
    )
    # uvicorn handles SIGTERM itself (the graceful shutdown), then puts back the handler it found
    # and raises the signal again, so that the process dies of it (exit status -15). A bus that
    # drained and committed has finished its work: the handler it finds makes that an exit 0.
    signal.signal(signal.SIGTERM, _exit_after_shutdown)
    # SIGHUP reloads once the bus has started (Runtime.lifespan); before that it must not kill it
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    uvicorn.Server(server).run(sockets=sockets(server, settings.http))


def _exit_after_shutdown(signum: int, frame: object) -> None:
    raise SystemExit(0)
