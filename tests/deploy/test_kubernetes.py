"""deploy/kubernetes/: every manifest valid against the Kubernetes JSON schemas (strict: no unknown
field), the objects' references to each other resolved, the pods' state in Kafka and PostgreSQL
(no volume for it; the database's URL from the Secret), and the ConfigMap's configuration
passing `lienthong config check` with the Secret's variables."""

from __future__ import annotations

import base64
import copy
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import ValidationError, validate  # type: ignore[import-untyped]
from kubernetes_validate.utils import latest_version  # type: ignore[import-untyped]

from adapters.http.console.sessions import SECRET_ENV
from tests.deploy.conftest import DEPLOY, ROOT

MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
VERSION = latest_version()  # the newest Kubernetes whose schemas kubernetes-validate bundles
# PostgreSQL's default max_connections is 100, three of them reserved for superusers; the rest
# leaves room for the operators' sessions (psql, pg_dump) beside every pod's pool
POSTGRES_CONNECTIONS_FOR_PODS = 80


def objects() -> dict[str, dict[str, Any]]:
    """kind -> the one object of that kind."""
    out: dict[str, dict[str, Any]] = {}
    for path in MANIFESTS:
        for document in yaml.safe_load_all(path.read_text()):
            assert document["kind"] not in out, f"two {document['kind']} objects"
            out[document["kind"]] = document
    return out


def pod_labels() -> dict[str, str]:
    labels: dict[str, str] = objects()["Deployment"]["spec"]["template"]["metadata"]["labels"]
    return labels


def container() -> dict[str, Any]:
    (only,) = objects()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(only)


def bus_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(objects()["ConfigMap"]["data"]["lienthong.yaml"])
    return config


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_manifest_matches_the_kubernetes_schema(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        validate(document, VERSION, strict=True)


def test_the_schema_check_catches_mistakes() -> None:
    deployment = copy.deepcopy(objects()["Deployment"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(ValidationError):
        validate(deployment, VERSION, strict=True)
    deployment = copy.deepcopy(objects()["Deployment"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(ValidationError):
        validate(deployment, VERSION, strict=True)


def test_every_part_the_issue_asks_for_is_there() -> None:
    assert set(objects()) == {
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    }


def test_selectors_match_the_pods() -> None:
    kinds = objects()
    labels = pod_labels()
    selectors = {
        "Deployment": kinds["Deployment"]["spec"]["selector"]["matchLabels"],
        "Service": kinds["Service"]["spec"]["selector"],
        "PodDisruptionBudget": kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    }
    for kind, selector in selectors.items():
        assert selector.items() <= labels.items(), f"the {kind}'s selector does not match the pods"


def test_probes_and_service_use_the_container_port() -> None:
    config_port = bus_config()["http"]["port"]
    ports = {port["name"]: port["containerPort"] for port in container()["ports"]}
    assert ports == {"http": config_port}
    (service_port,) = objects()["Service"]["spec"]["ports"]
    assert service_port["targetPort"] in ports
    probes = {
        kind: container()[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe", "startupProbe")
    }
    # transport, audit store, state database, critical sinks
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"  # the process answers: only this restarts it
    assert probes["startupProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["port"] in ports


def test_config_and_secret_reach_the_container() -> None:
    kinds = objects()
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in container()["volumeMounts"]}
    (secret_ref,) = container()["envFrom"]
    assert secret_ref["secretRef"]["name"] == kinds["Secret"]["metadata"]["name"]
    # the --config file is the ConfigMap's key, where the ConfigMap is mounted
    config_path = Path(container()["args"][container()["args"].index("--config") + 1])
    config_mount = mounts[str(config_path.parent)]
    assert config_mount["readOnly"] is True
    assert volumes[config_mount["name"]]["configMap"]["name"] == kinds["ConfigMap"]["metadata"]["name"]
    assert config_path.name in kinds["ConfigMap"]["data"]
    assert container()["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_state_is_in_kafka_and_postgresql_not_in_the_pod() -> None:
    """No volume for state: the configuration puts it in PostgreSQL, and the only writable mount
    is the scratch /tmp, where the SQLite file that transport.path names (kept empty) goes."""
    config = bus_config()
    assert config["transport"]["kind"] == "kafka"
    assert "postgres" in config["state"]
    # the audit log is the database's: no file of its own
    assert "path" not in config["audit"]
    pod = objects()["Deployment"]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    writable = {
        mount["mountPath"]: volumes[mount["name"]]
        for mount in container()["volumeMounts"]
        if not mount.get("readOnly", False)
    }
    assert set(writable) == {"/tmp"}
    assert set(writable["/tmp"]) == {"name", "emptyDir"}
    assert Path(config["transport"]["path"]).is_relative_to("/tmp")
    # every volume is the configuration or that scratch: no claim, no host path
    assert {kind for volume in volumes.values() for kind in volume if kind != "name"} == {
        "configMap",
        "emptyDir",
    }


def test_every_pods_pool_fits_in_the_databases_connections() -> None:
    pool = bus_config()["state"]["postgres"].get("pool_size", 10)
    pods = objects()["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
    assert pods * pool <= POSTGRES_CONNECTIONS_FOR_PODS, (pods, pool)


def test_every_environment_variable_the_config_names_comes_from_the_secret() -> None:
    config = bus_config()
    audit = config["audit"]
    named = {
        config["transport"]["security"]["sasl_password_env"],
        audit["subject_key_env"],
        audit["chain_key_env"],
        audit["checkpoints"]["signing_key_env"],
        config["state"]["postgres"]["dsn_env"],
        # not named by the configuration: read by the console (adapters/http/console/sessions.py)
        SECRET_ENV,
    }
    assert named <= set(objects()["Secret"]["stringData"])
    # and nothing in the ConfigMap looks like a connection URL with its password
    assert "postgresql://" not in objects()["ConfigMap"]["data"]["lienthong.yaml"]


def test_the_autoscaler_scales_the_deployment_within_the_partitions() -> None:
    kinds = objects()
    hpa = kinds["HorizontalPodAutoscaler"]["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", kinds["Deployment"]["metadata"]["name"])
    # a pod beyond the partitions would own none: more would not help
    assert hpa["minReplicas"] <= hpa["maxReplicas"] <= bus_config()["transport"]["partitions"]
    assert hpa["minReplicas"] > kinds["PodDisruptionBudget"]["spec"]["minAvailable"]
    # CPU utilisation is relative to the request: without one the autoscaler cannot work
    assert container()["resources"]["requests"]["cpu"]
    # SIGTERM drains; Kubernetes must wait for it
    assert kinds["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30


def config_check(path: Path, secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lienthong", "config", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **secrets},
        cwd=ROOT,
    )


def test_the_configmap_configuration_passes_config_check_with_real_secrets(tmp_path: Path) -> None:
    kinds = objects()
    path = tmp_path / "lienthong.yaml"
    path.write_text(kinds["ConfigMap"]["data"]["lienthong.yaml"])
    # values as the Secret's comment makes them
    values = {name: base64.b64encode(os.urandom(48)).decode() for name in kinds["Secret"]["stringData"]}
    values["LIENTHONG_AUDIT_SIGNING_KEY"] = base64.b64encode(os.urandom(32)).decode()
    dsn_env = bus_config()["state"]["postgres"]["dsn_env"]
    values[dsn_env] = f"postgresql://lienthong:{secrets.token_urlsafe(24)}@postgres.example:5432/lienthong"
    result = config_check(path, values)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_config_check_refuses_the_secrets_placeholders(tmp_path: Path) -> None:
    kinds = objects()
    path = tmp_path / "lienthong.yaml"
    path.write_text(kinds["ConfigMap"]["data"]["lienthong.yaml"])
    result = config_check(path, kinds["Secret"]["stringData"])
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).splitlines()
    refused = [line for line in lines if "placeholder" in line]
    dsn_env = bus_config()["state"]["postgres"]["dsn_env"]
    for name in set(kinds["Secret"]["stringData"]) - {dsn_env}:
        assert any(f"variable {name} holds a placeholder" in line for line in refused), (name, refused)
    assert all(line.startswith(f"{path}:") and ". Fix: set " in line for line in refused), refused
    # the URL's placeholder is not a postgresql:// URL: refused as such, naming the variable
    assert any(
        line.startswith(f"{path}:") and f"variable {dsn_env} does not hold a postgresql:// URL" in line
        for line in lines
    ), lines
