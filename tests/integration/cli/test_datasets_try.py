"""``lienthong datasets try`` as a user runs it (a real process) against the real registry
simulators, directly and through the gateway simulator: the mapped record, the raw replies' size
and the time; or the error with its stable code and exit 1."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from adapters.embedded.lock import ProcessLock
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
from tests.support.postgres import fresh_database
from tests.support.refusing import TEXT, refusing_registries

TAX, MANAGER, PLATES = transport_firm()
CHAIN_KEY = "datasets try test chain key, thirty-two characters or more"
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
        "datasets", "try", "vehicle.registration", "--subject", PLATES[0], "--reason", "connector check",
        "--config", str(direct), env=ENV,
    )  # fmt: skip
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
    result = lienthong(
        "datasets",
        "try",
        dataset,
        "--subject",
        subject,
        "--reason",
        "error check",
        "--config",
        str(direct),
        env=ENV,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{dataset}: {code}: " in result.stderr
    assert "Traceback" not in result.stderr and not result.stdout


def test_a_providers_own_message_is_shown_to_the_operator(tmp_path: Path) -> None:
    with refusing_registries() as refusing:
        config = evidence_config(
            tmp_path, dict.fromkeys(("population", "business", "vehicle"), refusing.url)
        ).write()
        result = lienthong(
            "datasets", "try", "business.registration", "--subject", TAX, "--config", str(config), env=ENV,
        )  # fmt: skip
    assert result.returncode == 1
    assert "business.registration: provider_fault: business refused the request: fault 409" in result.stderr
    # the operator fixing a mapping reads the registry's text, a line break as a space
    assert f"the provider's own message: {TEXT.replace(chr(10), ' ')}" in result.stderr


def test_a_token_endpoint_down_is_its_stable_code(platform: Path, gateway: tuple[Gateway, str]) -> None:
    gateway[0].issuer_mode = "down"
    try:
        result = lienthong(
            "datasets", "try", "citizen.identity", "--subject", MANAGER, "--reason", "auth check",
            "--config", str(platform), env=ENV,
        )  # fmt: skip
    finally:
        gateway[0].issuer_mode = "up"
    assert result.returncode == 1
    assert "citizen.identity: provider_auth_unavailable: " in result.stderr
    assert CONSUMER_SECRET not in result.stderr


def test_an_unknown_dataset_is_a_configuration_error(direct: Path) -> None:
    result = lienthong("datasets", "try", "land.parcel", "--subject", "x", "--config", str(direct), env=ENV)
    assert result.returncode == 2
    assert "no dataset 'land.parcel'" in result.stderr and "business.registration" in result.stderr


# --- the audit record of a dataset holding personal data ------------------------------------


def _operator() -> str:
    return f"cli:{pwd.getpwuid(os.geteuid()).pw_name}@{socket.gethostname()}"


def _through_gateway(directory: Path, gateway: tuple[Gateway, str]) -> Path:
    """A configuration of its own (its own audit log) that reaches the registries through the gateway."""
    config = evidence_config(directory, dict.fromkeys(("population", "business", "vehicle"), ""))
    return through_platform(config, gateway[1]).write()


def test_a_personal_dataset_is_recorded_in_the_audit_log(
    gateway: tuple[Gateway, str], tmp_path: Path
) -> None:
    config = _through_gateway(tmp_path, gateway)
    result = lienthong(
        "datasets", "try", "citizen.identity", "--subject", MANAGER, "--procedure", "1.002861",
        "--reason", "onboarding the population connector", "--config", str(config), env=ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["personalId"] == MANAGER
    shown = lienthong("audit", "show", "--subject", MANAGER, "--config", str(config), env=ENV)
    assert shown.returncode == 0, shown.stderr
    rows = [line.split("\t") for line in shown.stdout.splitlines()]
    assert len(rows) == 1
    _, _, who, official, dataset, purpose, procedure, dossier, outcome = rows[0]
    assert who == _operator()
    assert official == f"{pwd.getpwuid(os.geteuid()).pw_name} [os-user]"
    assert (dataset, purpose, procedure, dossier, outcome) == (
        "citizen.identity", "datasets-try: onboarding the population connector", "1.002861", "-", "released",
    )  # fmt: skip
    verified = lienthong("audit", "verify", "--config", str(config), env=ENV)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_personal_dataset_without_a_reason_asks_no_registry(
    gateway: tuple[Gateway, str], tmp_path: Path
) -> None:
    config = _through_gateway(tmp_path, gateway)
    gateway[0].reset()
    result = lienthong(
        "datasets", "try", "citizen.identity", "--subject", MANAGER, "--config", str(config), env=ENV
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "citizen.identity holds personal data" in result.stderr and "--reason" in result.stderr
    assert MANAGER not in result.stderr and not result.stdout
    assert gateway[0].record.calls == []


def test_an_audit_log_held_by_another_process_refuses_the_lookup(
    gateway: tuple[Gateway, str], tmp_path: Path
) -> None:
    config = _through_gateway(tmp_path, gateway)
    gateway[0].reset()
    lock = ProcessLock(tmp_path / "audit.db")  # as a running bus holds it
    lock.acquire()
    try:
        result = lienthong(
            "datasets", "try", "citizen.identity", "--subject", MANAGER, "--reason", "a check",
            "--config", str(config), env=ENV,
        )  # fmt: skip
    finally:
        lock.release()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "a running bus holds that file" in result.stderr and "state.postgres" in result.stderr
    assert MANAGER not in result.stderr and not result.stdout
    assert gateway[0].record.calls == []


def test_a_dataset_without_personal_data_needs_no_reason_and_no_audit(
    gateway: tuple[Gateway, str], tmp_path: Path
) -> None:
    config = _through_gateway(tmp_path, gateway)
    result = lienthong(
        "datasets", "try", "business.registration", "--subject", TAX, "--config", str(config), env=ENV
    )
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["taxCode"] == TAX
    assert not (tmp_path / "audit.db").exists()


@pytest.mark.postgres
def test_on_the_shared_state_the_lookup_goes_to_its_audit_log(
    gateway: tuple[Gateway, str], tmp_path: Path
) -> None:
    config = evidence_config(tmp_path, dict.fromkeys(("population", "business", "vehicle"), ""))
    config.sections["state"] = {"postgres": {"dsn_env": "TEST_STATE_DSN"}}
    path = through_platform(config, gateway[1]).write()
    env = {**ENV, "TEST_STATE_DSN": fresh_database(), "LIENTHONG_AUDIT_CHAIN_KEY": CHAIN_KEY}
    lock = ProcessLock(tmp_path / "audit.db")  # a bus's SQLite file, which the shared state leaves aside
    lock.acquire()
    try:
        result = lienthong(
            "datasets", "try", "citizen.identity", "--subject", MANAGER, "--reason", "shared state check",
            "--config", str(path), env=env,
        )  # fmt: skip
    finally:
        lock.release()
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["personalId"] == MANAGER
    verified = lienthong("audit", "verify", "--config", str(path), env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "1 records, chain intact" in verified.stdout


def test_an_audit_log_that_cannot_be_written_prints_no_record(
    gateway: tuple[Gateway, str], tmp_path: Path
) -> None:
    config = _through_gateway(tmp_path, gateway)
    (tmp_path / "audit.db").mkdir()  # no SQLite database can be opened there
    result = lienthong(
        "datasets", "try", "citizen.identity", "--subject", MANAGER, "--reason", "a check",
        "--config", str(config), env=ENV,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "citizen.identity: audit_unavailable: " in result.stderr
    assert MANAGER not in result.stderr and not result.stdout
