"""What ``lienthong serve`` listens on and believes (issue 16, item 7): ``/metrics`` on an
internal listener of its own when ``http.metrics_listen`` is set, and then not in the OpenAPI
document (on the API's listener, and in its document, otherwise),
and the console's cookie ``Secure`` behind a TLS-terminating proxy listed in
``http.trusted_proxies``, from that proxy's address only."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.bus import OPERATOR, BusConfig, BusProcess, free_port

TRUSTED_PROXY = "127.0.0.2"  # loopback: a connection can come from any 127/8 address


def test_metrics_on_the_api_listener_by_default(tmp_path: Path) -> None:
    with BusProcess(BusConfig(tmp_path)) as bus:
        reply = httpx.get(f"{bus.url}/metrics", timeout=10)
        with bus.client(OPERATOR) as client:
            paths = client.get("/openapi.json").json()["paths"]
    assert reply.status_code == 200
    assert "/metrics" in paths
    assert "lienthong_" in reply.text


def test_metrics_on_an_internal_listener_only(tmp_path: Path) -> None:
    internal = free_port()
    config = BusConfig(tmp_path, http={"metrics_listen": f"127.0.0.1:{internal}"})
    with BusProcess(config) as bus:
        public = httpx.get(f"{bus.url}/metrics", timeout=10)
        scraped = httpx.get(f"http://127.0.0.1:{internal}/metrics", timeout=10)
        api_on_internal = httpx.get(f"http://127.0.0.1:{internal}/v1/types", timeout=10)
        with bus.client(OPERATOR) as client:
            assert client.get("/v1/types").status_code == 200  # the API is where it was
            paths = client.get("/openapi.json").json()["paths"]
    assert "/metrics" not in paths  # the document describes the API's listener
    assert "/v1/types" in paths
    assert public.status_code == 404
    assert public.headers["content-type"] == "application/problem+json"
    assert public.json()["code"] == "not_found"
    assert scraped.status_code == 200
    assert "lienthong_" in scraped.text
    assert api_on_internal.status_code == 404


def login(bus: BusProcess, source: str) -> httpx.Response:
    """Signs in to the console through a proxy that terminated TLS (X-Forwarded-Proto: https),
    connecting from ``source``."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=bus.url, transport=transport, timeout=10) as client:
        return client.post(
            "/console/login",
            data={"api_key": bus.config.keys[OPERATOR]},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
        )


def test_the_console_cookie_is_secure_behind_a_trusted_proxy_only(tmp_path: Path) -> None:
    config = BusConfig(tmp_path, http={"trusted_proxies": [TRUSTED_PROXY]})
    with BusProcess(config) as bus:
        trusted = login(bus, TRUSTED_PROXY)
        untrusted = login(bus, "127.0.0.1")
    for reply in (trusted, untrusted):
        assert reply.status_code == 303, reply.text
    assert "secure" in trusted.headers["set-cookie"].lower().split("; ")
    assert "secure" not in untrusted.headers["set-cookie"].lower().split("; ")
