"""The dossier body's options in the portal connector's configuration: what the reference leaves
unknown is set there, and a malformed option is a configuration error naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.portal.connector import from_settings
from connectors.portal.mapping import PAID_VIA_GATEWAY, BodyOptions
from lienthong.config import load_settings
from router.errors import ConfigError

REQUIRED = {"agency_code": "000.00.00.H49", "username_env": "U", "password_env": "P"}


def body(tmp_path: Path, **options: Any) -> BodyOptions:
    settings = ConnectorSettings("portal", "portal", "http://127.0.0.1:9", options={**REQUIRED, **options})
    return from_settings(settings, ConnectorDeps(CollectorRegistry(), tmp_path)).sync.body


def test_the_defaults_claim_nothing_unknown(tmp_path: Path) -> None:
    options = body(tmp_path)
    assert options.database_codes == {}  # no invented MaCSDL
    assert options.agency_names == options.payment_method_codes == options.result_codes == {}
    assert options.data_store_datasets == frozenset({"result.document"})
    assert options.text_limits["GhiChu"] == 2000


def test_the_options_set_the_body(tmp_path: Path) -> None:
    options = body(
        tmp_path,
        database_codes={"citizen.identity": "7"},
        agency_names={"000.00.00.H49": "UBND tỉnh"},
        dataset_components={"citizen.identity": ["CCCD"]},
        online_payment="gateway",
        text_limits={"GhiChu": 500},
        fee_kind_codes={"fee": "3"},
    )
    assert options.database_codes == {"citizen.identity": "7"}
    assert options.dataset_components == {"citizen.identity": ("CCCD",)}
    assert options.online_payment == PAID_VIA_GATEWAY
    assert (options.text_limits["GhiChu"], options.text_limits["NguoiXuLy"]) == (500, 50)
    assert options.fee_kind_codes == {"fee": "3"}


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("database_codes", {"citizen.identity": "CSDLQGDC"}),  # MaCSDL are numeric strings
        ("database_codes", ["7"]),
        ("agency_names", {"000.00.00.H49": 7}),
        ("dataset_components", {"citizen.identity": "CCCD"}),
        ("data_store_datasets", "result.document"),
        ("online_payment", "bank"),
        ("text_limits", {"GhiChu": 0}),
        ("text_limits", {"GhiChu": True}),
    ],
)
def test_a_malformed_option_is_refused_by_name(tmp_path: Path, option: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=option):
        body(tmp_path, **{option: value})


def test_the_loader_takes_the_body_options(tmp_path: Path) -> None:
    path = tmp_path / "lienthong.yaml"
    path.write_text(
        """\
version: 1
members:
  - code: 000.00.00.H49
    name: UBND tỉnh Quảng Ninh
    systems:
      - name: dvcqg
connectors:
  - name: portal
    kind: portal
    url: http://127.0.0.1:9204
    options:
      agency_code: 000.00.00.H49
      username_env: U
      password_env: P
      agency_names: {000.00.00.H49: UBND tỉnh Quảng Ninh}
      database_codes: {citizen.identity: "7"}
      dataset_components: {result.document: [GPKD]}
      data_store_datasets: [result.document]
      fee_kind_codes: {fee: "1"}
      payment_method_codes: {online: "1"}
      result_codes: {"1.002859": KQ1}
      online_payment: gateway
      text_limits: {GhiChu: 1000}
"""
    )
    (connector,) = load_settings(path).connectors
    assert connector.options["online_payment"] == "gateway"
