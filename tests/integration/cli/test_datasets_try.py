"""``lienthong datasets try`` as a user runs it (a real process) against the real registry
simulators, directly and through the gateway simulator: the mapped record, the raw replies' size
and the time; or the error with its stable code and exit 1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from simulators.gateway import Gateway
from simulators.server import SimulatorServer
from tests.support.bus import free_port
from tests.support.cli import lienthong
from tests.support.evidence import AUDIT_KEY, AUDIT_KEY_ENV, evidence_config, registries, transport_firm
from tests.support.gateway import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    KEY_ENV,
    SECRET_ENV,
    gateway_in_front,
    through_platform,
)

TAX, MANAGER, PLATES = transport_firm()
ENV = {**os.environ, AUDIT_KEY_ENV: AUDIT_KEY, KEY_ENV: CONSUMER_KEY, SECRET_ENV: CONSUMER_SECRET}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SimulatorServer]]:
    with registries() as running:
        yield running


@pytest.fixture(scope="module")
def direct(servers: dict[str, SimulatorServer], tmp_path_factory: pytest.TempPathFactory) -> Path:
    urls = {name: server.url for name, server in servers.items()}
    urls["business"] = f"http://127.0.0.1:{free_port()}"  # nothing listens: a registry that is down
    return evidence_config(tmp_path_factory.mktemp("direct"), urls).write()


@pytest.fixture(scope="module")
def gateway(servers: dict[str, SimulatorServer]) -> Iterator[tuple[Gateway, str]]:
    with gateway_in_front(servers) as running:
        yield running


@pytest.fixture(scope="module")
def platform(gateway: tuple[Gateway, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = evidence_config(
        tmp_path_factory.mktemp("platform"), dict.fromkeys(("population", "business", "vehicle"), "")
    )
    return through_platform(config, gateway[1]).write()


def test_a_soap_dataset_prints_its_mapped_record_size_and_time(direct: Path) -> None:
    result = lienthong(
        "datasets", "try", "vehicle.registration", "--subject", PLATES[0], "--config", str(direct), env=ENV
    )
    assert result.returncode == 0, result.stderr
    record = orjson.loads(result.stdout)
    assert record["plate"] == PLATES[0]
    # the vehicle and its badges: two replies
    assert "vehicle.registration from vehicle:" in result.stderr
    assert " bytes in 2 replies, " in result.stderr and result.stderr.rstrip().endswith(" ms")


def test_through_the_gateway_with_a_procedure(platform: Path, gateway: tuple[Gateway, str]) -> None:
    gateway[0].reset()
    result = lienthong(
        "datasets", "try", "business.registration", "--subject", f"tax_code={TAX}", "--procedure", "1.002861",
        "--config", str(platform), env=ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["taxCode"] == TAX
    assert " bytes in 1 reply, " in result.stderr
    assert [(c.service, c.status) for c in gateway[0].record.calls] == [("business", 200)]
    assert gateway[0].record.tokens_issued == 1


@pytest.mark.parametrize(
    ("dataset", "subject", "code"),
    [
        ("business.registration", TAX, "provider_unavailable"),
        ("citizen.identity", "001099000000", "subject_not_found"),
        ("citizen.identity", "12345", "invalid_evidence_query"),
    ],
)
def test_an_error_is_its_stable_code_and_exit_1(direct: Path, dataset: str, subject: str, code: str) -> None:
    result = lienthong("datasets", "try", dataset, "--subject", subject, "--config", str(direct), env=ENV)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{dataset}: {code}: " in result.stderr
    assert "Traceback" not in result.stderr and not result.stdout


def test_a_token_endpoint_down_is_its_stable_code(platform: Path, gateway: tuple[Gateway, str]) -> None:
    gateway[0].issuer_mode = "down"
    try:
        result = lienthong(
            "datasets", "try", "citizen.identity", "--subject", MANAGER, "--config", str(platform), env=ENV
        )
    finally:
        gateway[0].issuer_mode = "up"
    assert result.returncode == 1
    assert "citizen.identity: provider_auth_unavailable: " in result.stderr
    assert CONSUMER_SECRET not in result.stderr


def test_an_unknown_dataset_is_a_configuration_error(direct: Path) -> None:
    result = lienthong("datasets", "try", "land.parcel", "--subject", "x", "--config", str(direct), env=ENV)
    assert result.returncode == 2
    assert "no dataset 'land.parcel'" in result.stderr and "business.registration" in result.stderr
