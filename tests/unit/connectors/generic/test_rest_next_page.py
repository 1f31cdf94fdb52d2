"""A list's next-page link is followed with the bus's credentials (for a platform connector, the
gateway's token shared by every service behind it), so it must stay on the connector's origin
(a default port written out is the same origin) and under its base path (the service's path on
the gateway, with dot segments in any encoding resolved first), and carry no credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.kinds import builder
from router.providers import CallPolicy, InvalidProviderReply

BASE = "https://gw.example.vn/bhxh/v1"
PAGE = "/api/v1/insured/1/periods"


def next_page(tmp_path: Path, link: str) -> str:
    settings = ConnectorSettings(
        name="insurance",
        kind="rest",
        url=BASE,
        call_policy=CallPolicy(max_attempts=1),
        options={"datasets": {"insurance.periods": {"path": PAGE, "list": "/items", "reply": {"n": "/n"}}}},
    )
    connector: Any = builder("rest")(settings, ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path))
    followed: str = connector.provider()._next_page(link, PAGE)
    return followed


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("?page=2", f"{BASE}{PAGE}?page=2"),
        ("/bhxh/v1/api/v1/insured/1/periods?page=2", f"{BASE}{PAGE}?page=2"),
        ("https://gw.example.vn:443/bhxh/v1/x?page=2", "https://gw.example.vn:443/bhxh/v1/x?page=2"),
        ("https://gw.example.vn/bhxh/v1/a/./b/../c?page=2", "https://gw.example.vn/bhxh/v1/a/c?page=2"),
        ("../../../../p2", f"{BASE}/p2"),
    ],
)
async def test_a_link_under_the_service_path_is_followed(tmp_path: Path, link: str, target: str) -> None:
    assert next_page(tmp_path, link) == target


@pytest.mark.parametrize(
    ("link", "refusal"),
    [
        ("../../../../../../admin", "outside the service's path"),
        ("/admin/users", "outside the service's path"),
        ("/bhxh/v1-other/x", "outside the service's path"),
        ("https://gw.example.vn/bhxh/v1/../../admin", "outside the service's path"),
        ("%2e%2e/%2E%2E/%2e%2e/%2e%2e/%2e%2e/%2e%2e/admin", "outside the service's path"),
        ("..%2f..%2f..%2f..%2f..%2f..%2fadmin", "outside the service's path"),
        ("..\\..\\..\\..\\..\\..\\admin", "outside the service's path"),
        ("https://gw.example.vn:8443/bhxh/v1/x", "another host"),
        ("http://gw.example.vn/bhxh/v1/x", "another host"),
        ("//evil.example/bhxh/v1/x", "another host"),
        ("https://user:pw@gw.example.vn/bhxh/v1/x", "carries credentials"),
    ],
)
async def test_a_link_elsewhere_is_refused(tmp_path: Path, link: str, refusal: str) -> None:
    with pytest.raises(InvalidProviderReply) as raised:
        next_page(tmp_path, link)
    assert raised.value.code == "invalid_provider_reply" and refusal in raised.value.detail
