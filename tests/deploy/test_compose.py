"""deploy/compose.yaml, checked without Docker (no engine and no compose plugin where the tests
run): against the Compose Specification's JSON Schema (vendored in compose_spec/), its references
resolved by hand, and the lienthong configuration it mounts passing `lienthong config check`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft201909Validator

from tests.deploy import compose_file
from tests.deploy.conftest import DEPLOY, ROOT

SPEC = Path(__file__).parent / "compose_spec" / "compose-spec.json"
CONFIG_MOUNT = "/etc/lienthong"


def validator() -> Draft201909Validator:
    schema = json.loads(SPEC.read_text())
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema)


def problems(document: dict[str, Any]) -> list[str]:
    return [
        f"/{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator().iter_errors(document)
    ]


def lienthong_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in document["services"].items()
        if service.get("image", "").startswith("lienthong")
    }


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def mounted_config(service: dict[str, Any]) -> Path:
    """The repository file a lienthong service runs, through its LIENTHONG_CONFIG and mounts."""
    in_container = Path(environment(service)["LIENTHONG_CONFIG"])
    sources = {target: source for source, target in compose_file.mounts(service).items()}
    source = sources[str(in_container.parent)]
    return (DEPLOY / source / in_container.name).resolve()


def test_the_compose_file_matches_the_compose_specification() -> None:
    assert problems(compose_file.load()) == []


def test_the_schema_check_catches_mistakes() -> None:
    document = compose_file.load()
    document["services"]["kafka"]["restart_policy"] = "always"  # not a compose key
    document["services"]["lienthong-1"]["ports"] = "8081:8080"  # a list, not a string
    found = problems(document)
    assert any("restart_policy" in problem for problem in found), found
    assert any(problem.startswith("/services/lienthong-1/ports") for problem in found), found


def test_references_resolve() -> None:
    document = compose_file.load()
    services = document["services"]
    declared_volumes = set(document.get("volumes", {}))
    published: list[str] = []
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on an unknown service {dependency}"
        for source in compose_file.mounts(service):
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in declared_volumes, f"{name} uses the undeclared volume {source}"
        for port in service.get("ports", []):
            published.append(port.rsplit(":", 1)[0])
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert context == ROOT
            assert (context / service["build"]["dockerfile"]).is_file()
    assert len(published) == len(set(published)), f"a host port is published twice: {published}"


def test_two_lienthong_instances_share_a_kafka_configuration() -> None:
    document = compose_file.load()
    instances = lienthong_services(document)
    assert len(instances) == 2
    kafka = document["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    kafka_env = environment(kafka)
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"]  # KRaft: no ZooKeeper
    # a cluster id is a UUID: 16 bytes, URL-safe base64 without padding (kafka-storage.sh format)
    assert len(base64.urlsafe_b64decode(kafka_env["CLUSTER_ID"] + "==")) == 16
    assert "zookeeper" not in json.dumps(document).lower()
    configs = {mounted_config(service) for service in instances.values()}
    assert configs == {DEPLOY / "config" / "lienthong.yaml"}
    config = yaml.safe_load((DEPLOY / "config" / "lienthong.yaml").read_text())
    assert config["transport"]["kind"] == "kafka"
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].split("://", 1)[1]
    assert config["transport"]["bootstrap_servers"] == [advertised]
    port = config["http"]["port"]
    data_dirs = {str(Path(config["transport"]["path"]).parent), str(Path(config["audit"]["path"]).parent)}
    own_volumes = []
    for name, service in instances.items():
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert any(p.endswith(f":{port}") for p in service["ports"]), name
        audit = config["audit"]
        for variable in (
            audit["subject_key_env"],
            audit["chain_key_env"],
            audit["checkpoints"]["signing_key_env"],
        ):
            assert variable in environment(service), (name, variable)
        targets = compose_file.mounts(service)
        # each process keeps its own dead letters and audit log, in its own volume
        (volume,) = [source for source, target in targets.items() if target in data_dirs]
        own_volumes.append(volume)
    assert len(set(own_volumes)) == 2


def test_prometheus_scrapes_both_instances_with_the_rules() -> None:
    document = compose_file.load()
    prometheus = document["services"]["prometheus"]
    mounts = compose_file.mounts(prometheus)
    assert mounts["./prometheus"] == "/etc/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [job for job in scrape["scrape_configs"] if job["job_name"] == "lienthong"]
    targets = {target for group in job["static_configs"] for target in group["targets"]}
    port = yaml.safe_load((DEPLOY / "config" / "lienthong.yaml").read_text())["http"]["port"]
    expected = {
        f"{service.get('hostname', name)}:{port}" for name, service in lienthong_services(document).items()
    }
    assert targets == expected
    for rule_file in scrape["rule_files"]:
        assert (DEPLOY / "prometheus" / rule_file).is_file()


def test_the_mounted_configuration_passes_config_check() -> None:
    service = lienthong_services(compose_file.load())["lienthong-1"]
    result = subprocess.run(
        [sys.executable, "-m", "lienthong", "config", "check", "-c", str(mounted_config(service))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **environment(service)},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout
