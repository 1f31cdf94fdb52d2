"""The portal connector's protocol options: endpoints, dstcode, session age, reply codes and the
envelope. A bad value is a ConfigError naming the option's path, shown under
the connector's place in the file when the bus builds it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.portal import protocol
from connectors.portal.connector import PortalConnector, from_settings
from connectors.portal.envelope import BridgeEnvelope, BridgeUrl, Paths, PortalEnvelope
from lienthong.config import load_settings
from lienthong.connectors import build_connectors
from router.errors import ConfigError

AGENCY = "000.00.00.H49"
LOGIN = {"username_env": "LIENTHONG_TEST_PORTAL_USER", "password_env": "LIENTHONG_TEST_PORTAL_PASSWORD"}
BRIDGE = {"create_url": "/b/create", "update_url": "/b/update", "progress_url": "/b/progress"}


def build(tmp_path: Path, **options: Any) -> PortalConnector:
    settings = ConnectorSettings(
        name="portal", kind="portal", url="http://127.0.0.1:9204", options={"agency_code": AGENCY, **options}
    )
    connector = from_settings(settings, ConnectorDeps(CollectorRegistry(), tmp_path))
    assert isinstance(connector, PortalConnector)
    return connector


def test_the_defaults(tmp_path: Path) -> None:
    client = build(tmp_path, **LOGIN).sync.client
    assert client.envelope == PortalEnvelope(
        AGENCY, Paths("/auth/login", "/adapter/service", "/adapter/share"), None
    )
    assert client.max_session_age_s == 600
    assert client.codes.success == {"0"}
    assert client.codes.already_exists == {"0", "3", "-3"}
    assert client.codes.already_exists_message == "đã tồn tại"
    assert client.codes.session_expired == frozenset()


def test_every_option_given(tmp_path: Path) -> None:
    client = build(
        tmp_path,
        **LOGIN,
        auth_path="/mapi/login",
        integration_path="https://dvc.example.vn/mapi/g",
        share_path="/mapi/share",
        dstcode="QNH",
        session_max_age="5m",
        codes={"success": [0, "00"], "already_exists": ["-3"], "session_expired": ["99"]},
        already_exists_message="Đã Tồn Tại",
    ).sync.client
    assert client.envelope == PortalEnvelope(
        AGENCY, Paths("/mapi/login", "https://dvc.example.vn/mapi/g", "/mapi/share"), "QNH"
    )
    assert client.max_session_age_s == 300
    assert (client.codes.success, client.codes.session_expired) == ({"0", "00"}, {"99"})
    assert client.codes.already_exists == {"-3"}
    assert client.codes.already_exists_message == "Đã Tồn Tại"


def test_a_bridge(tmp_path: Path) -> None:
    connector = build(
        tmp_path,
        envelope="bridge",
        bridge={
            **BRIDGE,
            "create_params": {"MaDinhDanhDV": "{agency}", "isUpdating": "False"},
            "lookup_url": "https://lgsp.example.vn/TraCuuHoSo",
            "lookup_params": {"mahoso": "{dossier}"},
            "bearer_env": "LIENTHONG_TEST_BRIDGE_TOKEN",
        },
        reconcile_every="1h",
    )
    envelope = connector.sync.client.envelope
    assert isinstance(envelope, BridgeEnvelope)
    assert envelope.create == BridgeUrl("/b/create", {"MaDinhDanhDV": "{agency}", "isUpdating": "False"})
    assert envelope.create.params_for(agency=AGENCY) == {"MaDinhDanhDV": AGENCY, "isUpdating": "False"}
    assert envelope.lookup is not None and envelope.lookup.params_for(agency=AGENCY, dossier="X") == {
        "mahoso": "X"
    }
    assert not envelope.holds_session


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({**LOGIN, "envelope": "lgsp"}, "options.envelope"),
        ({**LOGIN, "auth_path": "auth/login"}, "options.auth_path"),
        ({**LOGIN, "integration_path": 7}, "options.integration_path"),
        ({**LOGIN, "share_path": "ftp://x/share"}, "options.share_path"),
        ({**LOGIN, "dstcode": 5}, "options.dstcode"),
        ({**LOGIN, "dstcode": "a\r\nX-Evil: 1"}, "options.dstcode"),
        ({**LOGIN, "session_max_age": "soon"}, "'session_max_age'"),
        ({**LOGIN, "session_max_age": 0}, "'session_max_age'"),
        ({**LOGIN, "codes": ["0"]}, "options.codes"),
        ({**LOGIN, "codes": {"not_found": ["01"]}}, "options.codes.not_found"),
        ({**LOGIN, "codes": {"success": []}}, "options.codes.success"),
        ({**LOGIN, "codes": {"session_expired": "99"}}, "options.codes.session_expired"),
        ({**LOGIN, "codes": {"already_exists": [True]}}, "options.codes.already_exists"),
        ({**LOGIN, "already_exists_message": ""}, "options.already_exists_message"),
        ({**LOGIN, "bridge": BRIDGE}, "options.bridge"),
        ({"envelope": "bridge"}, "options.bridge"),
        ({"envelope": "bridge", "bridge": "https://x"}, "options.bridge"),
        ({"envelope": "bridge", "bridge": {**BRIDGE, "create_url": None}}, "options.bridge.create_url"),
        ({"envelope": "bridge", "bridge": {**BRIDGE, "update_url": "update"}}, "options.bridge.update_url"),
        ({"envelope": "bridge", "bridge": {**BRIDGE, "progress": "/p"}}, "options.bridge.progress"),
        (
            {"envelope": "bridge", "bridge": {**BRIDGE, "create_params": ["a"]}},
            "options.bridge.create_params",
        ),
        (
            {"envelope": "bridge", "bridge": {**BRIDGE, "lookup_params": {"a": "b"}}},
            "options.bridge.lookup_params",
        ),
        ({"envelope": "bridge", "bridge": {**BRIDGE, "bearer_env": ""}}, "options.bridge.bearer_env"),
        ({"envelope": "bridge", "bridge": BRIDGE, **LOGIN}, "options.username_env"),
        ({"envelope": "bridge", "bridge": BRIDGE, "dstcode": "X"}, "options.dstcode"),
        ({"envelope": "bridge", "bridge": BRIDGE, "reconcile_every": "1h"}, "options.reconcile_every"),
    ],
)
def test_a_bad_value_names_its_path(tmp_path: Path, options: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build(tmp_path, **options)
    assert path in raised.value.detail, raised.value.detail
    assert raised.value.detail.startswith("connector 'portal' (portal): ")


def test_the_bus_shows_where(tmp_path: Path) -> None:
    document = {
        "version": 1,
        "members": [{"code": AGENCY, "name": "UBND tỉnh Quảng Ninh", "systems": [{"name": "motcua"}]}],
        "connectors": [
            {
                "name": "portal",
                "kind": "portal",
                "url": "http://127.0.0.1:9204",
                "options": {
                    "agency_code": AGENCY,
                    "envelope": "bridge",
                    "bridge": {**BRIDGE, "update_url": "x"},
                },
            }
        ],
    }
    path = tmp_path / "bus.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError) as raised:
        build_connectors(load_settings(path), ConnectorDeps(CollectorRegistry(), tmp_path))
    assert f"{path}: /connectors/0 (portal): " in raised.value.detail
    assert "options.bridge.update_url: 'x' is not a path" in raised.value.detail


def test_the_defaults_are_the_references() -> None:
    # §1/§2: success 0; "already exists" seen as 0, 3, -3 with "đã tồn tại"; OpenCPS's 10 minutes
    assert {"0"} == protocol.DEFAULT_SUCCESS
    assert {"0", "3", "-3"} == protocol.DEFAULT_ALREADY_EXISTS
    assert protocol.DEFAULT_SESSION_MAX_AGE_S == 600
