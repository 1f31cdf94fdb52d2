"""Every kind of bad configuration gives a ConfigError naming the file, the line and column, the
JSON pointer, what is wrong and how to fix it; several problems are all reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from lienthong.config import load_settings
from router.errors import ConfigError

HASH = "sha256:" + "ab" * 32
BASE = f"""\
version: 1
members:
  - code: 000.00.00.H49
    name: UBND tỉnh Quảng Ninh
    systems:
      - name: motcua
        api_keys: ["{HASH}"]
  - code: 000.00.00.G22
    name: Văn phòng Chính phủ
    systems:
      - name: dvcqg
policies:
  - systems: [000.00.00.H49/motcua]
    publish: ["dossier.*"]
  - systems: [000.00.00.G22/dvcqg]
    subscribe: [dossier.status.changed]
subscriptions:
  - name: portal-status
    system: 000.00.00.G22/dvcqg
    types: [dossier.status.changed]
    sink: {{webhook: {{url: "http://127.0.0.1:9101/events", timeout: 5s}}}}
"""
SUBSCRIPTION = BASE[BASE.index("  - name: portal-status") :]


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "bus.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, "utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    error = raised.value
    assert error.code == "config_error"
    header, *lines = str(error).splitlines()
    assert header.startswith(f"{path}: invalid configuration, {len(lines)} problem")
    return lines


def expect(lines: list[str], path: Path, line: int, column: int, pointer: str, *words: str) -> None:
    prefix = f"{path}:{line}:{column}: {pointer}: "
    found = [text for text in lines if text.startswith(prefix)]
    assert found, f"no problem at {prefix!r} in:\n" + "\n".join(lines)
    assert ". Fix: " in found[0]
    for word in words:
        assert word in found[0], found[0]


def test_the_base_is_valid(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, BASE))
    assert [s.name for s in settings.subscriptions] == ["portal-status"]


def test_malformed_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path, BASE.replace("    types: [dossier.status.changed]", "    types: [dossier.status.changed")
    )
    lines = problems(path)
    assert len(lines) == 1
    expect(lines, path, 21, 9, "YAML", "expected ',' or ']', but got ':'", "correct the YAML syntax")


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + 'http: {port: "8080"}\n')
    expect(problems(path), path, 22, 14, "/http/port", "expected a whole number, found the string '8080'")


def test_unknown_key_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("    types:", "    typs:"))
    expect(
        problems(path),
        path,
        20,
        5,
        "/subscriptions/0/typs",
        "unknown property 'typs'",
        "did you mean 'types'?",
    )


def test_missing_required_property_points_at_its_object(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("    system: 000.00.00.G22/dvcqg\n", ""))
    expect(problems(path), path, 18, 5, "/subscriptions/0/system", "'system' is missing", "add 'system'")


def test_bad_duration(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("timeout: 5s", "timeout: 5 sec"))
    expect(
        problems(path),
        path,
        21,
        68,
        "/subscriptions/0/sink/webhook/timeout",
        "'5 sec'",
        "like 500ms, 30s, 5m",
    )


def test_duration_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("timeout: 5s", "timeout: 1h"))
    expect(
        problems(path),
        path,
        21,
        68,
        "/subscriptions/0/sink/webhook/timeout",
        "out of range",
        "from 1ms to 10m",
    )


def test_duplicate_subscription_names(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + SUBSCRIPTION)
    expect(problems(path), path, 22, 11, "/subscriptions/1/name", "'portal-status' is already defined")


def test_duplicate_system_names(tmp_path: Path) -> None:
    path = write(
        tmp_path, BASE.replace("      - name: dvcqg\n", "      - name: dvcqg\n      - name: dvcqg\n")
    )
    expect(problems(path), path, 12, 15, "/members/1/systems/1/name", "listed twice")


def test_unknown_system_in_a_subscription(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("    system: 000.00.00.G22/dvcqg", "    system: 000.00.00.G22/ghost"))
    expect(problems(path), path, 19, 13, "/subscriptions/0/system", "no system '000.00.00.G22/ghost'")


def test_unknown_system_in_a_policy(tmp_path: Path) -> None:
    path = write(
        tmp_path, BASE.replace("[000.00.00.H49/motcua]", "[000.00.00.H49/motcua, 000.00.00.H49/ghost]")
    )
    expect(problems(path), path, 13, 37, "/policies/0/systems/1", "no system '000.00.00.H49/ghost'")


def test_subscription_types_not_allowed_by_policy(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        BASE.replace(
            "    types: [dossier.status.changed]", "    types: [dossier.status.changed, dossier.submitted]"
        ),
    )
    expect(
        problems(path),
        path,
        20,
        37,
        "/subscriptions/0/types/1",
        "no policy lets '000.00.00.G22/dvcqg' subscribe to 'dossier.submitted'",
        "'subscribe'",
    )


def test_unregistered_types_when_the_registry_is_known(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, event_types={"dossier.submitted"})
    expect(
        str(raised.value).splitlines()[1:],
        path,
        20,
        13,
        "/subscriptions/0/types/0",
        "not a registered event type",
    )
    assert load_settings(path, event_types={"dossier.status.changed"}).subscriptions


def test_duplicate_yaml_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        BASE.replace("    system: 000.00.00.G22/dvcqg\n", "    system: 000.00.00.G22/dvcqg\n    system: x\n"),
    )
    expect(problems(path), path, 20, 5, "/subscriptions/0/system", "appears twice", "first on line 19")


def test_alias_bomb(tmp_path: Path) -> None:
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for n in range(1, 9):
        bomb += (
            f"{chr(97 + n)}: &{chr(97 + n)} [*{chr(96 + n)},*{chr(96 + n)},*{chr(96 + n)},*{chr(96 + n)}]\n"
        )
    path = write(tmp_path, bomb)
    lines = problems(path)
    assert len(lines) == 1
    expect(lines, path, 2, 8, "YAML", "aliases (*name) are not allowed")


def test_huge_file(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "#" * (1 << 20))
    expect(problems(path), path, 1, 1, "file", "larger than 1024 KiB")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, BASE.replace("Quảng Ninh", "Quang Ninh").encode("utf-8").replace(b"Quang", b"Qu\xe1ng")
    )
    expect(problems(path), path, 4, 23, "encoding", "not UTF-8", "save the file as UTF-8")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    expect(problems(path), path, 1, 1, "file", "does not exist")


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing here\n")
    expect(problems(path), path, 1, 1, "/", "the file is empty")


@pytest.mark.parametrize(
    ("text", "line", "column", "pointer", "words"),
    [
        ("version: 1\non: 1\n", 2, 1, "/on", "quote the key"),
        ("version: 1\nx: {<<: {a: 1}}\n", 2, 5, "/x", "merge keys"),
        ("version: !!python/object:os.system 1\n", 1, 10, "YAML", "without tags"),
        ("version: 1\n---\nversion: 1\n", 2, 1, "YAML", "single document"),
        ("version: 1\nx: 'a\x01'\n", 2, 6, "YAML", "control character"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", 1, 68, "/a" + "/0" * 64, "deeper than 64"),
    ],
)
def test_refused_yaml_features(
    tmp_path: Path, text: str, line: int, column: int, pointer: str, words: str
) -> None:
    path = write(tmp_path, text)
    expect(problems(path), path, line, column, pointer, words)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        BASE.replace("timeout: 5s", "timeout: soon")
        .replace("    types:", "    typs:")
        .replace("version: 1", "version: 2")
    )
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert {e.pointer for e in raised.value.errors} == {
        "/version",
        "/subscriptions/0/typs",
        "/subscriptions/0/sink/webhook/timeout",
    }
    lines = str(raised.value).splitlines()[1:]
    assert [int(text.split(":")[1]) for text in lines] == [1, 20, 21]  # in file order


def test_semantic_problems_are_reported_together(tmp_path: Path) -> None:
    text = (
        BASE.replace("    system: 000.00.00.G22/dvcqg", "    system: 000.00.00.G22/ghost")
        + SUBSCRIPTION.replace('url: "http://127.0.0.1:9101/events"', 'url: "http://127.0.0.1:99999/"')
        + "  - name: retry-wrong\n    system: 000.00.00.G22/dvcqg\n"
        + "    sink: {webhook: {url: 'http://127.0.0.1:9/', headers: {Idempotency-Key: x}}}\n"
        + "    retry: {initial_backoff: 20s, max_backoff: 10s}\n"
    )
    path = write(tmp_path, text)
    lines = problems(path)
    expect(lines, path, 19, 13, "/subscriptions/0/system", "no system")
    expect(lines, path, 22, 11, "/subscriptions/1/name", "already defined")
    expect(lines, path, 25, 27, "/subscriptions/1/sink/webhook/url", "not a usable URL")
    expect(lines, path, 28, 60, "/subscriptions/2/sink/webhook/headers/Idempotency-Key", "the bus sets")
    expect(lines, path, 29, 48, "/subscriptions/2/retry/max_backoff", "shorter than initial_backoff")


def test_an_unknown_transport_kind_is_the_only_problem_reported(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "transport: {kind: rabbitmq, path: x.db, bootstrap: 127.0.0.1}\n")
    lines = problems(path)
    assert len(lines) == 1  # not also "path" and "bootstrap" as unknown keys
    expect(lines, path, 22, 19, "/transport/kind", "'rabbitmq' is not allowed", '"embedded"')


def test_filters_nested_too_deep(tmp_path: Path) -> None:
    nested = "{exact: {type: a}}"
    for _ in range(20):
        nested = "{not: " + nested + "}"
    path = write(tmp_path, BASE.replace("    sink:", f"    filters: [{nested}]\n    sink:"))
    expect(problems(path), path, 21, 15, "/subscriptions/0/filters/0", "deeper than 16")


def test_an_unsupported_filter_dialect_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path, BASE.replace("    sink:", "    filters: [{sql: \"subject LIKE 'x%'\"}]\n    sink:")
    )
    expect(problems(path), path, 21, 16, "/subscriptions/0/filters/0/sql", "'sql' is not supported", "CESQL")


def connector_tls(tls: str) -> str:
    return (
        BASE
        + f"""\
connectors:
  - name: business
    kind: rest
    url: https://127.0.0.1:9202
    tls: {tls}
    options: {{datasets: {{business.registration: {{path: /x, reply: {{a: /a}}}}}}}}
"""
    )


def test_connector_tls_files_resolve_against_the_file(tmp_path: Path) -> None:
    for name in ("ca.pem", "bus.pem", "bus.key"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n", "ascii")
    settings = load_settings(
        write(tmp_path, connector_tls("{ca_file: ca.pem, client_cert: bus.pem, client_key: bus.key}"))
    )
    [connector] = settings.connectors
    assert connector.tls.ca_file == str(tmp_path / "ca.pem")
    assert connector.tls.client_cert == (str(tmp_path / "bus.pem"), str(tmp_path / "bus.key"))


def test_connector_tls_missing_file_and_lone_certificate(tmp_path: Path) -> None:
    path = write(tmp_path, connector_tls("{ca_file: nowhere.pem}"))
    expect(problems(path), path, 26, 20, "/connectors/0/tls/ca_file", "is not a file", "PEM file")
    path = write(tmp_path, connector_tls("{client_cert: bus.pem}"))
    expect(problems(path), path, 26, 10, "/connectors/0/tls", "client_key")
