"""transport: kind kafka in the configuration: what it builds, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.kafka import KafkaSecurity
from lienthong.config import load_settings
from tests.unit.lienthong.config.test_config_errors import BASE, expect, problems, write


def test_kafka_settings_are_built_with_security_passed_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_PW", "s3cret")
    (tmp_path / "ca.pem").write_text("-")
    text = BASE + (
        "transport:\n  kind: kafka\n  bootstrap_servers: ['127.0.0.1:19092', 'kafka-2:9092']\n"
        "  partitions: 12\n  replication_factor: 3\n  namespace: qn.\n"
        "  security: {protocol: SASL_SSL, sasl_mechanism: SCRAM-SHA-512, sasl_username: bus,"
        " sasl_password_env: KAFKA_PW, ssl_cafile: ca.pem}\n"
    )
    settings = load_settings(write(tmp_path, text))
    kafka = settings.transport.kafka
    assert settings.transport.kind == "kafka"
    assert kafka is not None
    assert kafka.bootstrap_servers == ("127.0.0.1:19092", "kafka-2:9092")
    assert (kafka.default_partitions, kafka.replication_factor, kafka.namespace) == (12, 3, "qn.")
    assert kafka.topic("inbound") == "qn.inbound"
    assert kafka.security == KafkaSecurity(
        protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="bus",
        sasl_password="s3cret",
        ssl_cafile=str(tmp_path / "ca.pem"),
    )


def test_kafka_without_brokers_or_with_a_missing_password_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_PW", raising=False)
    lines = problems(write(tmp_path, BASE + "transport: {kind: kafka}\n"))
    assert any("bootstrap_servers" in line for line in lines)
    text = BASE + (
        "transport: {kind: kafka, bootstrap_servers: ['127.0.0.1:1'],"
        " security: {protocol: SASL_PLAINTEXT, sasl_username: u, sasl_password_env: NO_SUCH_PW}}\n"
    )
    lines = problems(write(tmp_path, text))
    assert any("NO_SUCH_PW is not set" in line for line in lines)
    lines = problems(write(tmp_path, BASE + "transport: {kind: kafka, bootstrap_servers: ['no port']}\n"))
    assert any("host:port" in line for line in lines)


def test_kafka_routing_defaults_to_at_least_once_and_reads_transactional(tmp_path: Path) -> None:
    transport = "transport:\n  kind: kafka\n  bootstrap_servers: ['127.0.0.1:19092']\n"
    kafka = load_settings(write(tmp_path, BASE + transport)).transport.kafka
    assert kafka is not None
    assert (kafka.routing, kafka.isolation_level) == ("at_least_once", "read_uncommitted")
    kafka = load_settings(write(tmp_path, BASE + transport + "  routing: transactional\n")).transport.kafka
    assert kafka is not None
    assert (kafka.routing, kafka.isolation_level) == ("transactional", "read_committed")


def test_an_unknown_kafka_routing_is_refused_naming_file_line_and_path(tmp_path: Path) -> None:
    text = (
        BASE
        + "transport:\n  kind: kafka\n  bootstrap_servers: ['127.0.0.1:19092']\n  routing: exactly_once\n"
    )
    path = write(tmp_path, text)
    line = text.splitlines().index("  routing: exactly_once") + 1
    expect(problems(path), path, line, 12, "/transport/routing", "at_least_once or transactional")
