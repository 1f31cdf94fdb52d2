"""state: in the configuration: PostgreSQL named through an environment variable, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from lienthong.config import load_settings
from lienthong.config.settings import PostgresSettings, StateSettings
from tests.unit.lienthong.config.test_config_errors import BASE, problems, write

URL = "postgresql://lienthong:s3cret@db.internal:5432/lienthong"


def test_without_a_state_section_the_state_stays_in_the_process(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, BASE)).state == StateSettings()


def test_the_dsn_is_read_from_the_variable_the_file_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUS_DB", URL)
    text = BASE + "state:\n  postgres: {dsn_env: BUS_DB, pool_size: 4, timeout: 3s}\n"
    postgres = load_settings(write(tmp_path, text)).state.postgres
    assert postgres == PostgresSettings(dsn_env="BUS_DB", dsn=URL, pool_size=4, timeout_s=3.0)
    assert "s3cret" not in repr(postgres)  # the settings may be logged


def test_the_default_variable_is_lienthong_state_dsn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_STATE_DSN", URL)
    postgres = load_settings(write(tmp_path, BASE + "state: {postgres: {}}\n")).state.postgres
    assert postgres is not None and postgres.dsn == URL


def test_an_unset_or_malformed_variable_is_refused_naming_file_line_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_DSN", raising=False)
    text = BASE + "state:\n  postgres:\n    dsn_env: NO_SUCH_DSN\n"
    path = write(tmp_path, text)
    line = text.count("\n", 0, text.index("dsn_env")) + 1
    [found] = [problem for problem in problems(path) if "NO_SUCH_DSN" in problem]
    assert found.startswith(f"{path}:{line}:")
    assert "/state/postgres/dsn_env" in found and "is not set" in found
    monkeypatch.setenv("NO_SUCH_DSN", "host=db password=x")
    [found] = [problem for problem in problems(path) if "NO_SUCH_DSN" in problem]
    assert "postgresql:// URL" in found and "password=x" not in found


def test_a_password_written_in_the_file_is_refused_by_the_schema(tmp_path: Path) -> None:
    lines = problems(write(tmp_path, BASE + f"state:\n  postgres: {{dsn: '{URL}'}}\n"))
    assert any("/state/postgres" in line for line in lines)
    assert not any("s3cret" in line for line in lines)
