"""Bad input to a configured REST dataset without a document: a subject value ``.`` or ``..``
is refused before any call (put in the path, it would climb out of its segment to another path
on the provider, with the bus's credentials); a next-page link that is not a URL is
``invalid_provider_reply``, not a crash, and one that leaves the connector's base path (another
service on a platform's gateway) or carries credentials is refused before it is called."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.kinds import builder
from router.providers import (
    CallPolicy,
    DataRequest,
    InvalidProviderReply,
    InvalidProviderRequest,
    RequestContext,
)
from simulators.server import SimulatorServer
from tests.support.simulators import serving

PATHS_SEEN: list[str] = []


async def anything(request: Request) -> JSONResponse:
    """Every path answers: a parcel's owner, or a page whose next link is the ``next`` parameter."""
    PATHS_SEEN.append(request.url.path)
    return JSONResponse({"owner": "x", "items": [{"n": 1}], "next": request.query_params.get("next", "")})


@pytest.fixture(scope="module")
def provider_server() -> Iterator[SimulatorServer]:
    app = Starlette(routes=[Route("/{rest:path}", anything)])
    with serving(app) as server:
        yield server


def connector(folder: Path, url: str, dataset: dict[str, Any]) -> Any:
    settings = ConnectorSettings(
        name="parcels",
        kind="rest",
        url=url,
        call_policy=CallPolicy(max_attempts=1),
        options={"datasets": {"land.owner": dataset}},
    )
    return builder("rest")(settings, ConnectorDeps(CollectorRegistry(), folder, folder))


@pytest.mark.parametrize("value", [".", ".."])
async def test_a_dot_segment_as_a_subject_value_is_refused_before_any_call(
    provider_server: SimulatorServer, tmp_path: Path, value: str
) -> None:
    owner = connector(
        tmp_path,
        provider_server.url,
        {"method": "GET", "path": "/parcels/{subject.parcel_id}/owner", "reply": {"owner": "/owner"}},
    )
    PATHS_SEEN.clear()
    try:
        with pytest.raises(InvalidProviderRequest) as raised:
            await owner.provider().fetch(DataRequest("land.owner", {"parcel_id": value}, RequestContext()))
        # a dot inside a value is an ordinary segment
        await owner.provider().fetch(DataRequest("land.owner", {"parcel_id": "H46..1"}, RequestContext()))
    finally:
        await owner.aclose()
    assert raised.value.code == "invalid_provider_request"
    assert PATHS_SEEN == ["/parcels/H46..1/owner"]


@pytest.mark.parametrize("link", ["https://gw.example:abc/p", "http://[::1/p"])
async def test_a_next_link_that_is_not_a_url_is_an_invalid_reply(
    provider_server: SimulatorServer, tmp_path: Path, link: str
) -> None:
    pages = connector(
        tmp_path,
        provider_server.url,
        {
            "method": "GET",
            "path": "/list",
            "query": {"next": "{subject.parcel_id}"},
            "list": "/items",
            "pages": {"next": "/next", "max_pages": 3},
            "reply": {"n": "/n"},
        },
    )
    try:
        with pytest.raises(InvalidProviderReply) as raised:
            await pages.provider().fetch(DataRequest("land.owner", {"parcel_id": link}, RequestContext()))
    finally:
        await pages.aclose()
    assert "not a URL" in raised.value.detail and link not in raised.value.detail


@pytest.mark.parametrize(
    ("link", "refusal"),
    [
        ("../../admin/users", "outside the service's path"),
        ("%2e%2e/%2e%2e/admin/users", "outside the service's path"),
        ("/admin/users", "outside the service's path"),
        ("{origin}/svc/../admin/users", "outside the service's path"),
        ("http://user:pw@{host}/svc/list", "carries credentials"),
    ],
)
async def test_a_next_link_out_of_the_services_path_is_not_followed(
    provider_server: SimulatorServer, tmp_path: Path, link: str, refusal: str
) -> None:
    pages = connector(
        tmp_path,
        provider_server.url + "/svc",  # a platform connector's URL: the gateway's, then the service's path
        {
            "method": "GET",
            "path": "/list",
            "query": {"next": "{subject.parcel_id}"},
            "list": "/items",
            "pages": {"next": "/next", "max_pages": 3},
            "reply": {"n": "/n"},
        },
    )
    link = link.format(origin=provider_server.url, host=provider_server.url.split("://")[1])
    PATHS_SEEN.clear()
    try:
        with pytest.raises(InvalidProviderReply) as raised:
            await pages.provider().fetch(DataRequest("land.owner", {"parcel_id": link}, RequestContext()))
    finally:
        await pages.aclose()
    assert refusal in raised.value.detail
    assert PATHS_SEEN == ["/svc/list"]
