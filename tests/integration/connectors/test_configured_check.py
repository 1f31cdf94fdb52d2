"""``lienthong config check`` compares configured datasets with their providers' documents, loaded
from the registries on loopback: the example passes; an operation, a request element, a
parameter or a reply pointer the document lacks is reported at its file, line and path; a hostile
document is reported, never a crash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lienthong.cli import app
from simulators import rest_openapi_insurance, soap12_land
from simulators.server import SimulatorServer
from tests.support.paths import EXAMPLES
from tests.support.simulators import serving


@pytest.fixture(scope="module")
def registries() -> Iterator[dict[str, SimulatorServer]]:
    with serving(soap12_land.serve()[0]) as land, serving(rest_openapi_insurance.serve()[0]) as insurance:
        yield {"land": land, "insurance": insurance}


def example(tmp_path: Path, registries: dict[str, SimulatorServer], *changes: tuple[str, str]) -> Path:
    """The example configuration, its registries on the simulators' ports, with ``changes``."""
    text = (EXAMPLES / "configured-datasets.yaml").read_text("utf-8")
    text = text.replace("127.0.0.1:9301", f"127.0.0.1:{registries['land'].port}")
    text = text.replace("127.0.0.1:9302", f"127.0.0.1:{registries['insurance'].port}")
    text = text.replace("contracts/", f"{EXAMPLES}/contracts/").replace("../var/", f"{tmp_path}/")
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "configured.yaml"
    path.write_text(text, "utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text("utf-8").splitlines(), 1) if text in line)


def test_the_example_matches_its_documents(tmp_path: Path, registries: dict[str, SimulatorServer]) -> None:
    result = CliRunner().invoke(app, ["config", "check", "-c", str(example(tmp_path, registries))])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "warning" not in result.output


def test_what_the_documents_lack_is_reported_where_it_is_written(
    tmp_path: Path, registries: dict[str, SimulatorServer]
) -> None:
    path = example(
        tmp_path,
        registries,
        ("area: {path: /ThuaDat/DienTich", "area: {path: /ThuaDat/DienTichDat"),
        ("CanBo: ", "NguoiXuLy: "),
        ("yearOfBirth: /NamSinh", "yearOfBirth: /ChuSuDung/NamSinh"),
        ("bookNumber: /soSoBHXH", "bookNumber: /soSo"),
        ("X-Ma-Ho-So:", "X-Ma-Ho-So-Khac:"),
        ("operation: listPeriods", "operation: listPeriod"),
    )
    result = CliRunner().invoke(app, ["config", "check", "-c", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()

    def reported(written: str, pointer: str, *words: str) -> None:
        prefix = f"{path}:{line_of(path, written)}:"
        found = [line for line in lines if line.startswith(prefix) and pointer in line]
        assert found, f"nothing at {prefix} {pointer} in:\n{result.output}"
        for word in words:
            assert word in found[0], found[0]

    reported("DienTichDat", "/reply/area", "no /ThuaDat/DienTichDat in the WSDL's types")
    reported("NguoiXuLy", "/request/NguoiXuLy", "no child 'NguoiXuLy'", "MaThuaDat")
    reported("/ChuSuDung/NamSinh", "/yearOfBirth", "/ThuaDat/ChuSuDung/*/ChuSuDung/NamSinh")
    reported("bookNumber: /soSo", "/reply/bookNumber", "no /soSo in the OpenAPI document's schema")
    reported("X-Ma-Ho-So-Khac", "/parameters", "no parameter 'X-Ma-Ho-So-Khac'")
    reported("operation: listPeriod", "/operation", "no operationId 'listPeriod'", "listPeriods")


def test_an_openapi_document_nested_past_the_limit_is_reported_not_a_crash(
    tmp_path: Path, registries: dict[str, SimulatorServer]
) -> None:
    deep = tmp_path / "deep.yaml"  # read recursively, this nesting overflows Python's stack
    deep.write_text("openapi: 3.1.0\npaths: {}\nx: " + "[" * 900 + "]" * 900 + "\n", "utf-8")
    path = example(
        tmp_path,
        registries,
        (f"openapi: http://127.0.0.1:{registries['insurance'].port}/openapi.json", f"openapi: {deep}"),
    )
    result = CliRunner().invoke(app, ["config", "check", "-c", str(path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "nests deeper than" in result.output
