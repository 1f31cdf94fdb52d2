"""``lienthong simulate gateway`` runs the integration platform's gateway as a real process: tokens
for its consumer key and secret (from the environment), 401 without one, and the registry behind
it reached with one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from tests.support.bus import free_port


def test_the_gateway_process_issues_tokens_and_guards_its_services() -> None:
    port = free_port()
    env = {
        **os.environ,
        "LIENTHONG_GATEWAY_CONSUMER_KEY": "cli-key",
        "LIENTHONG_GATEWAY_CONSUMER_SECRET": "cli-secret",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "lienthong", "simulate", "gateway", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a loaded machine starts Python slowly
        while True:
            try:
                httpx.get(f"{url}/_sim/stats", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.1)
        refused = httpx.post(
            f"{url}/token", data={"grant_type": "client_credentials"}, auth=("cli-key", "wrong")
        )
        issued = httpx.post(
            f"{url}/token", data={"grant_type": "client_credentials"}, auth=("cli-key", "cli-secret")
        )
        anonymous = httpx.post(f"{url}/dancu/1.0/population", content=b"<x/>")
    finally:
        process.terminate()
        process.wait(10)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert issued.status_code == 200
    body = issued.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["access_token"]
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "900901"
