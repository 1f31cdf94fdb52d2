"""TLS settings of outgoing calls to providers."""

from __future__ import annotations

import ssl


def client_tls(client_cert: tuple[str, str] | None, ca_file: str | None) -> ssl.SSLContext | bool:
    """httpx's ``verify``: the system's trust store (``True``), or a context with a private CA
    and/or a client certificate ``(certificate file, key file)`` for mutual TLS."""
    if client_cert is None and ca_file is None:
        return True
    context = ssl.create_default_context(cafile=ca_file)
    if client_cert is not None:
        context.load_cert_chain(*client_cert)
    return context
