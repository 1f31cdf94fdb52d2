"""deploy/container/Dockerfile, checked without building it (no Docker engine where the tests
run): what it copies exists, is not left out by .dockerignore, and is everything the package
needs; it runs the console script as an unprivileged user; compose builds it from the root."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

from tests.deploy import compose_file
from tests.deploy.conftest import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "container" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def copied_sources() -> list[str]:
    """The build-context paths of COPY instructions (not those copying from a stage)."""
    sources: list[str] = []
    for word, arguments in instructions():
        if word == "COPY" and "--from" not in arguments:
            *paths, _destination = shlex.split(arguments)
            sources.extend(path.rstrip("/") for path in paths if not path.startswith("--"))
    return sources


def ignored(path: str) -> bool:
    """Whether .dockerignore leaves ``path`` (or a folder holding it) out of the build context."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            return True
    return False


def test_everything_copied_exists_and_reaches_the_build() -> None:
    sources = copied_sources()
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not ignored(source), f"COPY {source}: left out by .dockerignore"


def test_the_package_data_reaches_the_build() -> None:
    """Contracts, WSDL files, the console's files are package data: .dockerignore keeps them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = 0
    for package, patterns in project["tool"]["setuptools"]["package-data"].items():
        folder = ROOT / package.replace(".", "/")
        for pattern in patterns:
            for path in folder.glob(pattern):
                found += 1
                assert not ignored(str(path.relative_to(ROOT))), path
    assert found


def test_every_package_of_the_distribution_is_copied() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in includes}
    sources = set(copied_sources())
    assert packages <= sources, f"not copied: {sorted(packages - sources)}"
    assert {"pyproject.toml", project["project"]["readme"]} <= sources


def test_the_image_runs_lienthong_unprivileged() -> None:
    steps = instructions()
    bases = [arguments.split()[0] for word, arguments in steps if word == "FROM"]
    assert all(":" in base and not base.endswith(":latest") for base in bases), bases
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    user = [arguments for word, arguments in final if word == "USER"]
    assert user and user[-1].split(":")[0] not in {"0", "root"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entrypoint = [arguments for word, arguments in final if word == "ENTRYPOINT"]
    assert entrypoint == ['["lienthong"]'] and "lienthong" in project["project"]["scripts"]
    assert ("EXPOSE", "8080") in final
    health = [arguments for word, arguments in final if word == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]  # liveness, not readiness


def test_compose_builds_this_file_from_the_repository_root() -> None:
    services = compose_file.load()["services"]
    builds = [service["build"] for service in services.values() if "build" in service]
    assert builds
    for build in builds:
        assert (DEPLOY / build["context"]).resolve() == ROOT
        assert (ROOT / build["dockerfile"]).resolve() == DOCKERFILE
    assert Path(ROOT / ".dockerignore").is_file()
