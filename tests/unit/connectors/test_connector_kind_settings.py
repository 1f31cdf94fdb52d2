"""A connector's entry may use only the settings its kind takes: anything else is refused by the
loader (and so by ``config check``) with the file, line, path and the kind's list."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.base import ConnectorKind
from connectors.kind_settings import SUPPORTED
from connectors.kinds import BUILDERS
from lienthong.cli import app
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
"""
)

CONNECTORS = """\
connectors:
  - name: portal
    kind: portal
    url: https://127.0.0.1:9204
    auth: {api_key: {env: LIENTHONG_PORTAL_KEY}}
    options: {agency_code: 000.00.00.H49}
  - name: business
    kind: rest
    url: https://127.0.0.1:9202
    options: {agency_code: 000.00.00.H49, datasets: {business.registration: {path: /x, reply: {a: /a}}}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bus.yaml"
    path.write_text(text, "utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    return str(raised.value).splitlines()[1:]


def expect(lines: list[str], path: Path, line: int, column: int, pointer: str, *words: str) -> None:
    prefix = f"{path}:{line}:{column}: {pointer}: "
    found = [text for text in lines if text.startswith(prefix)]
    assert found, f"no problem at {prefix!r} in:\n" + "\n".join(lines)
    for word in words:
        assert word in found[0], found[0]


def test_every_kind_declares_its_settings() -> None:
    assert set(SUPPORTED) == set(BUILDERS)


def test_a_setting_the_kind_does_not_take_is_refused_where_it_is(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + CONNECTORS)
    lines = problems(path)
    base = BASE.count("\n")
    expect(
        lines,
        path,
        base + 5,
        5,
        "/connectors/0/auth",
        "a portal connector does not take 'auth'",
        "Fix: remove it",
    )
    expect(
        lines,
        path,
        base + 10,
        15,
        "/connectors/1/options/agency_code",
        "a rest connector has no option 'agency_code'",
        "takes openapi",
    )
    assert len(lines) == 2


def test_config_check_refuses_it(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + CONNECTORS)
    outcome = CliRunner().invoke(app, ["config", "check", "--config", str(path)])
    assert outcome.exit_code == 2
    assert "/connectors/0/auth" in outcome.output


@pytest.mark.parametrize("kind", ["citizen_store", "soap", "rest"])
def test_a_kind_that_takes_auth_is_not_refused_for_it(kind: ConnectorKind) -> None:
    assert "auth" in SUPPORTED[kind].keys


STORE = """\
connectors:
  - name: kho
    kind: citizen_store
    url: {url}
    options: {{trust_anchors: anchors.pem}}
{more}"""


@pytest.mark.parametrize(
    ("url", "more", "refused"),
    [
        ("https://kho.quangninh.gov.vn", "", True),
        ("https://kho.quangninh.gov.vn", "    auth: {api_key: {env: LIENTHONG_STORE_KEY}}\n", False),
        ("https://kho.quangninh.gov.vn", "    tls: {client_cert: bus.pem, client_key: bus.key}\n", False),
        ("http://127.0.0.1:9205", "", False),
    ],
)
def test_the_citizen_store_connector_must_authenticate_off_loopback(
    url: str, more: str, refused: bool, tmp_path: Path
) -> None:
    for name in ("bus.pem", "bus.key"):
        (tmp_path / name).write_text("x")
    path = write(tmp_path, BASE + STORE.format(url=url, more=more))
    if refused:
        expect(problems(path), path, 9, 5, "/connectors/0", "without authenticating", "auth")
    else:
        load_settings(path)
