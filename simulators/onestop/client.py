"""A one-stop-shop system's client of the bus: it publishes its dossiers' events with its API key,
and queries evidence or reads a citizen's access report for an official, whom it names with the
official's signed identity token (``X-Official-Token``, e.g. from :mod:`simulators.identity`).

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
OFFICIAL_TOKEN = "X-Official-Token"  # noqa: S105 (a header name, not a secret)


class Refused(Exception):
    """The bus refused a request; the message is its problem+json code and detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code


class PublishRefused(Refused):
    """The bus did not accept an event."""


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

    def query_evidence(self, query: Mapping[str, Any], official_token: str) -> dict[str, Any]:
        """One dataset about one subject (``POST /v1/evidence:query``) for the official the token
        names; the answer's data and provenance. Raises :class:`Refused`."""
        reply = self._http.post(
            "/v1/evidence:query", json=dict(query), headers={OFFICIAL_TOKEN: official_token}
        )
        return _answer(reply)

    def access_log(self, subject: str, official_token: str) -> dict[str, Any]:
        """A citizen's access report (``GET /v1/subjects/{id}/access-log``), read for the person
        the token names (a system granted ``read_access_log``). Raises :class:`Refused`."""
        reply = self._http.get(f"/v1/subjects/{subject}/access-log", headers={OFFICIAL_TOKEN: official_token})
        return _answer(reply)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OneStopClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _answer(reply: httpx.Response) -> dict[str, Any]:
    if reply.status_code != 200:
        problem = _problem(reply)
        raise Refused(reply.status_code, str(problem.get("code", "")), str(problem.get("detail", "")))
    answer: dict[str, Any] = reply.json()
    return answer


def _problem(reply: httpx.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        return {"detail": reply.text[:200]}
    return body if isinstance(body, dict) else {"detail": str(body)[:200]}
