"""deploy/compose.yaml, checked without Docker (no engine and no compose plugin where the tests
run): against the Compose Specification's JSON Schema (vendored in compose_spec/), its references
resolved by hand, the PostgreSQL service wired to the lienthong processes as their shared state
(the password in files, never in the compose file), and the lienthong configuration it mounts
passing `lienthong config check` with the environment the containers get."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

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
    return compose_file.environment(service)


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
    declared_secrets = set(document.get("secrets", {}))
    published: list[str] = []
    for name in declared_secrets:
        assert compose_file.secret_file(document, name).is_file(), f"the secret {name} has no file"
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on an unknown service {dependency}"
        for path in compose_file.env_file_paths(service):
            assert path.is_file(), f"{name} reads the env file {path}, which does not exist"
        for secret in service.get("secrets", []):
            assert secret in declared_secrets, f"{name} uses the undeclared secret {secret}"
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
        # the state they share is in Kafka and PostgreSQL: no process has a volume of its own,
        # only the configuration, read-only
        assert service["volumes"] == ["./config:/etc/lienthong:ro"], name


def state_wiring_problems(document: dict[str, Any]) -> list[str]:
    """What keeps the lienthong services of ``document`` from their shared state database: the
    PostgreSQL service, its data volume and health check, and each process's DSN (from an env
    file) agreeing with the database's user, name, host and password (from a secret file)."""
    found: list[str] = []
    services = document["services"]
    postgres = services.get("postgres")
    if postgres is None:
        return ["no service postgres"]
    image = postgres.get("image", "")
    version = re.fullmatch(r"postgres:(\d+)\.(\d+)(-[a-z]+)?", image)
    if version is None:
        return [f"postgres: the image {image!r} is not the official one pinned to a version (postgres:15.18)"]
    # the image's PGDATA: /var/lib/postgresql/data up to 17, /var/lib/postgresql/MAJOR/docker after
    data = "/var/lib/postgresql/data" if int(version[1]) <= 17 else "/var/lib/postgresql"
    volumes = [source for source, target in compose_file.mounts(postgres).items() if target == data]
    if not volumes or volumes[0].startswith(".") or volumes[0] not in document.get("volumes", {}):
        found.append(f"postgres: no named volume at {data}")
    check = " ".join(postgres.get("healthcheck", {}).get("test", []))
    if "pg_isready" not in check or "127.0.0.1" not in check:
        found.append("postgres: no health check by pg_isready over TCP")
    env = compose_file.environment(postgres)
    if "POSTGRES_PASSWORD" in env or "POSTGRES_PASSWORD_FILE" not in env:
        found.append("postgres: the password is not read from a file (POSTGRES_PASSWORD_FILE)")
        return found
    secret = Path(env["POSTGRES_PASSWORD_FILE"]).name
    if env["POSTGRES_PASSWORD_FILE"] != f"/run/secrets/{secret}" or secret not in postgres.get("secrets", []):
        return [*found, "postgres: POSTGRES_PASSWORD_FILE is not one of its secrets"]
    password = compose_file.secret_file(document, secret).read_text().strip()
    if password in compose_file.COMPOSE.read_text():
        found.append("the database password is written in the compose file")
    for name, service in lienthong_services(document).items():
        if service.get("depends_on", {}).get("postgres", {}).get("condition") != "service_healthy":
            found.append(f"{name}: does not wait for postgres to be healthy")
        config = yaml.safe_load(mounted_config(service).read_text())
        variable = config.get("state", {}).get("postgres", {}).get("dsn_env", "LIENTHONG_STATE_DSN")
        if "postgres" not in config.get("state", {}):
            found.append(f"{name}: its configuration has no state.postgres")
        if variable in environment(service):
            found.append(f"{name}: {variable} is written in the compose file")
        dsn = compose_file.container_environment(service).get(variable)
        if dsn is None:
            found.append(f"{name}: no env file sets {variable}")
            continue
        url = urlsplit(dsn)
        expected = (postgres.get("hostname", "postgres"), 5432, env["POSTGRES_USER"], env["POSTGRES_DB"])
        if (url.hostname, url.port or 5432, unquote(url.username or ""), url.path.lstrip("/")) != expected:
            found.append(f"{name}: {variable} names another host, port, user or database than {expected}")
        if unquote(url.password or "") != password:
            found.append(f"{name}: the password in {variable} is not the database's")
    return found


def test_the_lienthong_processes_share_a_postgresql_database() -> None:
    assert state_wiring_problems(compose_file.load()) == []


def test_the_state_wiring_check_catches_mistakes(tmp_path: Path) -> None:
    document = compose_file.load()

    def broken(change: Any) -> list[str]:
        copied = copy.deepcopy(document)
        change(copied)
        return state_wiring_problems(copied)

    def unpinned(d: dict[str, Any]) -> None:
        d["services"]["postgres"]["image"] = "postgres:latest"

    def anonymous_data(d: dict[str, Any]) -> None:
        d["services"]["postgres"]["volumes"] = []

    def password_inline(d: dict[str, Any]) -> None:
        env = d["services"]["postgres"]["environment"]
        env["POSTGRES_PASSWORD"] = env.pop("POSTGRES_PASSWORD_FILE")

    def not_waiting(d: dict[str, Any]) -> None:
        # a new mapping: the services share theirs through the YAML anchor
        d["services"]["lienthong-2"]["depends_on"] = {"kafka": {"condition": "service_healthy"}}

    def other_password(d: dict[str, Any]) -> None:
        (tmp_path / "password").write_text("another-password\n")
        d["secrets"]["postgres-password"]["file"] = str(tmp_path / "password")

    def no_env_file(d: dict[str, Any]) -> None:
        d["services"]["lienthong-1"].pop("env_file")

    assert any("pinned" in p for p in broken(unpinned))
    assert any("named volume" in p for p in broken(anonymous_data))
    assert any("not read from a file" in p for p in broken(password_inline))
    assert broken(not_waiting) == ["lienthong-2: does not wait for postgres to be healthy"]
    found = broken(other_password)
    assert found == [
        f"{n}: the password in LIENTHONG_STATE_DSN is not the database's"
        for n in ("lienthong-1", "lienthong-2")
    ]
    assert broken(no_env_file) == ["lienthong-1: no env file sets LIENTHONG_STATE_DSN"]


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
        env={**os.environ, **compose_file.container_environment(service)},
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout
