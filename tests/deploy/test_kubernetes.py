"""deploy/kubernetes/: every manifest valid against the Kubernetes JSON schemas (strict: no unknown
field), the objects' references to each other resolved, and the ConfigMap's configuration
passing `lienthong config check` with the Secret's variables."""

from __future__ import annotations

import base64
import copy
import os
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
    assert probes["readinessProbe"]["path"] == "/readyz"  # transport, audit store, critical sinks
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
    # state goes to a writable volume, not the read-only root file system
    assert container()["securityContext"]["readOnlyRootFilesystem"] is True
    config = bus_config()
    for path in (config["transport"]["path"], config["audit"]["path"]):
        mount = mounts[str(Path(path).parent)]
        assert not mount.get("readOnly", False) and mount["name"] in volumes


def test_every_environment_variable_the_config_names_comes_from_the_secret() -> None:
    config = bus_config()
    audit = config["audit"]
    named = {
        config["transport"]["security"]["sasl_password_env"],
        audit["subject_key_env"],
        audit["chain_key_env"],
        audit["checkpoints"]["signing_key_env"],
        # not named by the configuration: read by the console (adapters/http/console/sessions.py)
        SECRET_ENV,
    }
    assert named <= set(objects()["Secret"]["stringData"])


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
    secrets = {name: base64.b64encode(os.urandom(48)).decode() for name in kinds["Secret"]["stringData"]}
    secrets["LIENTHONG_AUDIT_SIGNING_KEY"] = base64.b64encode(os.urandom(32)).decode()
    result = config_check(path, secrets)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_config_check_refuses_the_secrets_placeholders(tmp_path: Path) -> None:
    kinds = objects()
    path = tmp_path / "lienthong.yaml"
    path.write_text(kinds["ConfigMap"]["data"]["lienthong.yaml"])
    result = config_check(path, kinds["Secret"]["stringData"])
    assert result.returncode != 0
    refused = [line for line in (result.stdout + result.stderr).splitlines() if "placeholder" in line]
    for name in kinds["Secret"]["stringData"]:
        assert any(f"variable {name} holds a placeholder" in line for line in refused), (name, refused)
    assert all(line.startswith(f"{path}:") and ". Fix: set " in line for line in refused), refused
