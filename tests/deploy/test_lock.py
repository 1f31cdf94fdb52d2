"""The lock: uv.lock and requirements-bootstrap.txt pin every package with hashes, and the
Makefile's ``lock-check`` (run before every install, so by CI too) fails, naming the command that
fixes it, when they no longer agree with pyproject.toml."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

UV = Path(sys.executable).parent / "uv"
PROJECT_FILES = ("Makefile", "pyproject.toml", "uv.lock", "requirements-bootstrap.txt", "README.md")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the files the lock check reads."""
    for name in PROJECT_FILES:
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    return tmp_path


def lock_check(folder: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """``make lock-check`` in ``folder``, offline, with an empty uv cache of its own."""
    assert UV.is_file(), f"uv is installed beside the interpreter by the bootstrap: {UV}"
    env = {**os.environ, "UV_CACHE_DIR": str(cache), "UV_PYTHON": sys.executable, "UV_OFFLINE": "1"}
    return subprocess.run(
        ["make", "--no-print-directory", "lock-check", f"UV={UV}"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_committed_lock_agrees_with_pyproject(project: Path, tmp_path: Path) -> None:
    done = lock_check(project, tmp_path / "cache")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_changed_lower_bound_fails_the_check_with_the_fixing_command(project: Path, tmp_path: Path) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert '"lxml>=5.2"' in text
    pyproject.write_text(text.replace('"lxml>=5.2"', '"lxml>=5.3"'))
    done = lock_check(project, tmp_path / "cache")
    assert done.returncode != 0
    assert "uv.lock does not match pyproject.toml" in done.stderr
    assert "run 'make lock'" in done.stderr


def test_a_new_dependency_fails_the_check(project: Path, tmp_path: Path) -> None:
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('    "PyYAML>=6.0",\n', '    "PyYAML>=6.0",\n    "attrs",\n')
    )
    done = lock_check(project, tmp_path / "cache")
    assert done.returncode != 0 and "run 'make lock'" in done.stderr


def test_a_bootstrap_file_out_of_step_with_the_lock_fails_the_check(project: Path, tmp_path: Path) -> None:
    bootstrap = project / "requirements-bootstrap.txt"
    text = bootstrap.read_text()
    changed = re.sub(r"^uv==(\S+)", "uv==0.0.1", text, count=1, flags=re.MULTILINE)
    assert changed != text
    bootstrap.write_text(changed)
    done = lock_check(project, tmp_path / "cache")
    assert done.returncode != 0
    assert "requirements-bootstrap.txt does not match uv.lock" in done.stderr
    assert "run 'make lock'" in done.stderr


def test_every_locked_distribution_has_hashes() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = [package for package in lock["package"] if package["name"] != "lienthong"]
    assert len(packages) > 50
    for package in packages:
        files = [package["sdist"]] if "sdist" in package else []
        files += package.get("wheels", [])
        assert files, f"{package['name']}: no file locked"
        for file in files:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", file.get("hash", "")), package["name"]


def test_the_bootstrap_file_pins_the_installers_with_hashes() -> None:
    text = (ROOT / "requirements-bootstrap.txt").read_text()
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", text, flags=re.MULTILINE))
    assert set(pins) == {"pip", "setuptools", "uv"}
    for requirement in re.split(r"\n(?=[a-z])", text.strip()):
        assert "--hash=sha256:" in requirement, requirement.splitlines()[0]
    major = int(pins["setuptools"].split(".")[0])
    assert major >= 78, "setuptools before 78.1.1 has known vulnerabilities (path traversal, CVE-2025-47273)"


def test_the_environment_running_the_tests_has_the_locked_installers() -> None:
    """The bootstrap replaced the venv module's own pip and setuptools (setuptools 65.5 in
    Python 3.11's, with known vulnerabilities) with the pinned ones."""
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", (ROOT / "requirements-bootstrap.txt").read_text(), re.M))
    for name in ("pip", "setuptools", "uv"):
        assert metadata.version(name) == pins[name], name


def test_every_install_reads_the_lock() -> None:
    """The Makefile, CI (through the Makefile) and the container build install from the lock
    and never resolve on the day."""
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes" in makefile and "-r requirements-bootstrap.txt" in makefile
    assert re.search(r"\$\(UV\) sync\b[^\n]*--locked", makefile)
    assert "pip install -e" not in makefile
    dockerfile = (ROOT / "deploy" / "container" / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "requirements-bootstrap.txt" in dockerfile
    assert re.search(r"uv sync\b[^\n]*--locked", dockerfile)
    assert not re.search(r"pip install [^\n]*'\.\[", dockerfile)
