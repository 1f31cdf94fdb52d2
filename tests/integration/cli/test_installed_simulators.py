"""The simulators find their contracts in an installed copy of the project (a wheel, as the
container image installs it), not in a checkout: the wheel is built from a copy of the sources,
unpacked outside the checkout, and a simulator run from there serves its WSDL and XSD."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.paths import ROOT

PACKAGES = ("lienthong", "router", "schemas", "adapters", "connectors", "simulators")
SERVE = """
import sys
sys.path.insert(0, sys.argv[1])
from starlette.testclient import TestClient
import simulators
from simulators import population, vehicle
assert simulators.__file__.startswith(sys.argv[1]), simulators.__file__
for simulator, path in ((population, "/population"), (vehicle, "/vehicle")):
    with TestClient(simulator.create_app()[0]) as client:
        wsdl = client.get(path + "?wsdl")
        xsd = client.get("/" + simulator.XSD.name)
    assert wsdl.status_code == 200 and b"definitions" in wsdl.content, wsdl.status_code
    assert xsd.status_code == 200 and b"schema" in xsd.content, xsd.status_code
print("served")
"""


def test_a_simulator_installed_from_the_wheel_serves_its_contracts(tmp_path: Path) -> None:
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", "dist", "."],
        cwd=source,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (source / "dist").glob("lienthong-*.whl")
    installed = tmp_path / "site"
    with zipfile.ZipFile(wheel) as unpacked:
        unpacked.extractall(installed)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    served = subprocess.run(
        [sys.executable, "-I", "-c", SERVE, str(installed)],
        cwd=outside,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.strip() == "served"
