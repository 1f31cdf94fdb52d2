"""tracing: in the configuration (OpenTelemetry export): what it builds, what it refuses, and that
a running bus cannot switch it by a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lienthong.config import load_settings
from lienthong.loading import load
from lienthong.reload_rules import restart_problems
from tests.unit.lienthong.config.test_config_errors import BASE, problems, write
from tests.unit.lienthong.config.test_reload_rules import written

ENDPOINT = "http://127.0.0.1:4318/v1/traces"


def test_tracing_is_off_without_the_section(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, BASE)).tracing is None


def test_tracing_settings_are_built_with_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, BASE + f"tracing: {{otlp_endpoint: '{ENDPOINT}'}}\n"))
    assert settings.tracing is not None
    assert settings.tracing.otlp_endpoint == ENDPOINT
    assert settings.tracing.service_name == "lienthong"
    assert (settings.tracing.sample_ratio, settings.tracing.export_interval_s) == (1.0, 5.0)
    text = BASE + (
        f"tracing: {{otlp_endpoint: '{ENDPOINT}', service_name: lienthong-qb, sample_ratio: 0.25,"
        " export_interval: 250ms, export_timeout: 3s}\n"
    )
    tracing = load_settings(write(tmp_path, text)).tracing
    assert tracing is not None
    assert (tracing.service_name, tracing.sample_ratio) == ("lienthong-qb", 0.25)
    assert (tracing.export_interval_s, tracing.export_timeout_s) == (0.25, 3.0)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("{}", "otlp_endpoint"),
        ("{otlp_endpoint: 'grpc://collector:4317'}", "http(s) URL"),
        (f"{{otlp_endpoint: '{ENDPOINT}', sample_ratio: 2}}", "at most 1"),
        (f"{{otlp_endpoint: '{ENDPOINT}', service_name: 'two words'}}", "without spaces"),
        (f"{{otlp_endpoint: '{ENDPOINT}', export_interval: 2h}}", "from 10ms to 1h"),
        (f"{{otlp_endpoint: '{ENDPOINT}', exporter: zipkin}}", "exporter"),
        ("yes", "tracing"),
    ],
)
def test_a_bad_tracing_section_is_refused_with_its_path_and_fix(
    tmp_path: Path, section: str, expected: str
) -> None:
    lines = problems(write(tmp_path, BASE + f"tracing: {section}\n"))
    assert any("/tracing" in line and expected in line for line in lines), lines
    assert all(line.startswith(str(tmp_path / "bus.yaml")) for line in lines)


def test_tracing_without_the_opentelemetry_packages_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the one thing a unit test cannot install away: the packages' absence
    monkeypatch.setattr("lienthong.config.build.otel_installed", lambda: False)
    lines = problems(write(tmp_path, BASE + f"tracing: {{otlp_endpoint: '{ENDPOINT}'}}\n"))
    assert any("lienthong[otel]" in line for line in lines), lines


def test_a_reload_cannot_switch_tracing_on_off_or_elsewhere(tmp_path: Path) -> None:
    path = written(tmp_path)
    off, _ = load(path)

    def turn_on(endpoint: str) -> None:
        document = yaml.safe_load(path.read_text())
        document["tracing"] = {"otlp_endpoint": endpoint}
        path.write_text(yaml.safe_dump(document, sort_keys=False))

    turn_on(ENDPOINT)
    on, _ = load(path)
    turn_on("http://collector.example:4318/v1/traces")
    elsewhere, _ = load(path)
    assert [p.path for p in restart_problems(off, on)] == [("tracing",)]
    assert "restart" in restart_problems(on, elsewhere)[0].fix
    assert [p.path for p in restart_problems(on, off)] == [()]
    assert restart_problems(on, on) == []
