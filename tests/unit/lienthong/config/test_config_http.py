"""http: the input limits, the trusted proxies and the metrics listener are read, and bad values
are named with their line and fix."""

from __future__ import annotations

from pathlib import Path

from lienthong.config import load_settings
from tests.unit.lienthong.config.test_config_errors import BASE, expect, problems, write


def test_the_defaults(tmp_path: Path) -> None:
    http = load_settings(write(tmp_path, BASE)).http
    assert (http.max_head_bytes, http.max_headers) == (64 << 10, 100)
    assert (http.trusted_proxies, http.metrics_listen) == ((), None)


def test_the_settings_are_read(tmp_path: Path) -> None:
    text = BASE + (
        "http:\n  max_head: 32KiB\n  max_headers: 50\n"
        "  trusted_proxies: [10.0.0.5, 10.0.1.0/24, '::1']\n  metrics_listen: '[::1]:9464'\n"
    )
    http = load_settings(write(tmp_path, text)).http
    assert (http.max_head_bytes, http.max_headers) == (32 << 10, 50)
    assert http.trusted_proxies == ("10.0.0.5", "10.0.1.0/24", "::1")
    assert http.metrics_listen == ("::1", 9464)


def test_bad_values_are_named(tmp_path: Path) -> None:
    text = BASE + (
        "http:\n  port: 8080\n  max_head: 2MiB\n  trusted_proxies: [10.0.0.5, proxy.example]\n"
        "  metrics_listen: '127.0.0.1:8080'\n"
    )
    path = write(tmp_path, text)
    lines = problems(path)
    expect(lines, path, 24, 13, "/http/max_head", "out of range", "8KiB")
    expect(lines, path, 25, 31, "/http/trusted_proxies/1", "not an IP address", "10.0.0.0/24")
    expect(lines, path, 26, 19, "/http/metrics_listen", "the API's", "a port of its own")
    assert len(lines) == 3
    lines = problems(write(tmp_path, BASE + "http:\n  metrics_listen: metrics\n"))
    assert any("/http/metrics_listen: 'metrics' is not host:port" in line for line in lines)
