"""A configured dataset's mistakes are found when the configuration is loaded, each at its file,
line and path with the fix, like every other setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from lienthong.config import load_settings
from router.errors import ConfigError

BASE = (
    """\
version: 1
members:
  - code: 000.00.00.H49
    name: UBND tỉnh Quảng Ninh
    systems:
      - name: motcua
        api_keys: ["sha256:"""
    + "ab" * 32
    + """"]
connectors:
  - name: land
    kind: soap
    url: http://127.0.0.1:9301/land
    options:
      wsdl: land.wsdl
      datasets:
        land.parcel:
          operation: TraCuuThuaDat
          request: {MaThuaDat: "{subject.parcel}", CanBo: "{officer}"}
          reply:
            parcelId: ThuaDat/MaThuaDat
"""
)


def test_mapping_mistakes_are_reported_at_their_lines(tmp_path: Path) -> None:
    (tmp_path / "land.wsdl").write_text("<definitions/>", "utf-8")
    path = tmp_path / "bus.yaml"
    path.write_text(BASE, "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    lines = str(raised.value).splitlines()[1:]
    base = BASE.count("\n")
    officer = [line for line in lines if "/request/CanBo" in line]
    assert officer and officer[0].startswith(f"{path}:{base - 2}:"), lines
    assert "no value called 'officer'" in officer[0] and "Fix: use {subject.<key>}" in officer[0]
    pointer = [line for line in lines if "/reply/parcelId" in line]
    assert pointer and pointer[0].startswith(f"{path}:{base}:"), lines
    assert "is not a JSON pointer" in pointer[0]


def test_a_missing_wsdl_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bus.yaml"
    path.write_text(
        BASE.replace('"{officer}"', '"{official}"').replace("ThuaDat/MaThuaDat", "/ThuaDat/MaThuaDat"),
        "utf-8",
    )
    with pytest.raises(ConfigError, match=r"/connectors/0/options/wsdl: 'land.wsdl' is not a file"):
        load_settings(path)


def test_a_subject_placeholder_names_a_key_of_its_dataset(tmp_path: Path) -> None:
    (tmp_path / "land.wsdl").write_text("<definitions/>", "utf-8")
    text = BASE.replace('"{officer}"', '"{official}"').replace("ThuaDat/MaThuaDat", "/ThuaDat/MaThuaDat")
    text += """\
datasets:
  - name: land.parcel
    provider: land
    key: [parcel_id]
    personal_data: personal
    fields: {dossier_processing: "*"}
"""
    path = tmp_path / "bus.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    lines = [line for line in str(raised.value).splitlines() if "/request/MaThuaDat" in line]
    assert lines and "no value called 'subject.parcel'" in lines[0] and "{subject.parcel_id}" in lines[0]
