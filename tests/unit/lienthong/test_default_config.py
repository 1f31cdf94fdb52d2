"""The configuration a command reads when given none: the checkout's example, or a clear refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lienthong import default_config
from lienthong.cli import app
from lienthong.default_config import config_file
from router.errors import ConfigError
from tests.support.paths import EXAMPLES


def test_a_named_file_is_taken_as_given() -> None:
    assert config_file(Path("elsewhere.yaml")) == Path("elsewhere.yaml")


def test_the_default_is_the_checkouts_example_whatever_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    example = config_file(None)
    assert example.is_absolute()
    assert example == EXAMPLES / "lienthong.yaml"


def test_without_a_checkout_beside_the_package_the_refusal_names_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(default_config, "CHECKOUT", tmp_path)  # as an installed package
    with pytest.raises(ConfigError, match="--config"):
        config_file(None)
    monkeypatch.delenv("LIENTHONG_CONFIG", raising=False)
    for command in (["config", "check"], ["audit", "verify"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "--config" in result.output
        assert str(tmp_path) in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
