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


KAFKA_SINK_BASE = BASE.replace(
    '    sink: {webhook: {url: "http://127.0.0.1:9101/events", timeout: 5s}}\n', "    sink: {kafka: {}}\n"
)


def test_a_kafka_sink_on_kafka_is_read_by_the_subscriber_with_its_own_group(tmp_path: Path) -> None:
    transport = "transport: {kind: kafka, bootstrap_servers: ['127.0.0.1:19092'], namespace: qn.}\n"
    settings = load_settings(write(tmp_path, KAFKA_SINK_BASE + transport))
    (subscription,) = settings.subscriptions
    assert subscription.sink.kind == "kafka"
    assert not subscription.delivered_by_bus
    assert (subscription.topic, subscription.group) == ("deliver.portal-status", "subscriber.portal-status")


def test_a_kafka_sink_on_the_embedded_log_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, KAFKA_SINK_BASE)
    lines = problems(path)
    assert len(lines) == 1
    expect(
        lines, path, 21, 19, "/subscriptions/0/sink/kafka", "needs the transport kind kafka", "webhook sink"
    )


def test_delivery_settings_on_a_kafka_sink_are_refused(tmp_path: Path) -> None:
    transport = "transport: {kind: kafka, bootstrap_servers: ['127.0.0.1:19092']}\n"
    text = KAFKA_SINK_BASE.replace(
        "    sink: {kafka: {}}\n", "    sink: {kafka: {}}\n    on_dead_letter: hold_subject\n"
    )
    lines = problems(write(tmp_path, text + transport))
    assert len(lines) == 1
    assert "/subscriptions/0/on_dead_letter" in lines[0] and "does not apply to a kafka sink" in lines[0]
