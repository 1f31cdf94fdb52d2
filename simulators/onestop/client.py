"""A one-stop-shop system's client of the bus: it publishes its dossiers' events with its API key.

The bus's side of a one-stop system is plain HTTP (``POST /v1/events``, CloudEvents in structured
mode, ``Authorization: Bearer <key>``); this is the few lines an integrator writes, kept here so the
demo and the quickstart show the real thing. What the bus delivers back to the system (evidence
collected, results) arrives at its webhook receiver (:mod:`simulators.onestop.receiver`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from simulators.onestop import mapping

STRUCTURED = "application/cloudevents+json"


class PublishRefused(Exception):
    """The bus did not accept an event; the message is its problem+json code and detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code


class OneStopClient:
    """Publishes as ``system`` (``<agency code>/<system name>``) to the bus at ``bus_url``."""

    def __init__(self, bus_url: str, system: str, api_key: str, *, timeout_s: float = 10.0) -> None:
        self.system = system
        self._http = httpx.Client(
            base_url=bus_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout_s
        )

    def publish(self, event_id: str, event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Publishes one event; returns the bus's receipt. Raises :class:`PublishRefused`."""
        event = mapping.cloud_event(event_id, self.system, event_type, data)
        reply = self._http.post("/v1/events", json=event, headers={"Content-Type": STRUCTURED})
        if reply.status_code != 202:
            problem = _problem(reply)
            raise PublishRefused(
                reply.status_code, str(problem.get("code", "")), str(problem.get("detail", ""))
            )
        receipt: dict[str, Any] = reply.json()
        return receipt

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OneStopClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _problem(reply: httpx.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        return {"detail": reply.text[:200]}
    return body if isinstance(body, dict) else {"detail": str(body)[:200]}
