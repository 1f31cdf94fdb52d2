"""audit: in the configuration: the chain keys, the checkpoints and their witnesses; what it
refuses (a time-stamping authority, a key that is not one) and that a reload cannot change them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lienthong.config import load_settings
from lienthong.loading import load
from lienthong.reload_rules import restart_problems
from tests.unit.lienthong.config.test_config_errors import BASE, expect, problems, write
from tests.unit.lienthong.config.test_reload_rules import written

PUBLIC_KEY = "A" * 43 + "="


def test_the_defaults_checkpoint_to_a_file_beside_the_log(tmp_path: Path) -> None:
    audit = load_settings(write(tmp_path, BASE + "audit: {path: var/audit.db}\n")).audit
    assert (audit.chain_key_env, audit.retired_chain_keys_env) == (
        "LIENTHONG_AUDIT_CHAIN_KEY",
        "LIENTHONG_AUDIT_RETIRED_CHAIN_KEYS",
    )
    checkpoints = audit.checkpoints
    assert (checkpoints.signing_key_env, checkpoints.public_key) == ("LIENTHONG_AUDIT_SIGNING_KEY", None)
    assert (checkpoints.every_records, checkpoints.interval_s) == (1000, 300.0)
    [witness] = checkpoints.witnesses
    assert (witness.kind, witness.name, witness.path) == (
        "file",
        "file",
        tmp_path / "var" / "audit.db.checkpoints",
    )


def test_witnesses_and_the_schedule_are_built(tmp_path: Path) -> None:
    text = BASE + (
        "audit:\n"
        "  chain_key_env: QB_CHAIN_KEY\n"
        "  checkpoints:\n"
        f"    public_key: '{PUBLIC_KEY}'\n"
        "    every: 50\n"
        "    interval: 30s\n"
        "    witnesses:\n"
        "      - file: /mnt/witness/audit.checkpoints\n"
        "      - webhook: {url: 'https://witness.example.gov.vn/checkpoints', timeout: 2s,"
        " headers: {X-Witness-Token: abc}}\n"
        "        name: province-archive\n"
        "      - webhook: {url: 'http://127.0.0.1:9/c'}\n"
    )
    audit = load_settings(write(tmp_path, text)).audit
    assert audit.chain_key_env == "QB_CHAIN_KEY"
    checkpoints = audit.checkpoints
    assert (checkpoints.public_key, checkpoints.every_records, checkpoints.interval_s) == (
        PUBLIC_KEY,
        50,
        30.0,
    )
    file, archive, other = checkpoints.witnesses
    assert (file.name, file.path) == ("file", Path("/mnt/witness/audit.checkpoints"))
    assert (archive.name, archive.url, archive.timeout_s) == (
        "province-archive",
        "https://witness.example.gov.vn/checkpoints",
        2.0,
    )
    assert archive.headers == (("X-Witness-Token", "abc"),)
    assert (other.kind, other.name) == ("webhook", "webhook")


def test_a_time_stamping_authority_is_refused_with_the_way_out(tmp_path: Path) -> None:
    text = BASE + "audit:\n  checkpoints:\n    witnesses:\n      - tsa: {url: 'https://tsa.example.vn'}\n"
    path = write(tmp_path, text)
    expect(
        problems(path),
        path,
        25,
        9,
        "/audit/checkpoints/witnesses/0/tsa",
        "RFC 3161 time-stamping authorities are not supported yet",
        "use a file on another host's volume or a webhook",
    )


@pytest.mark.parametrize(
    ("section", "pointer", "words"),
    [
        (
            "{checkpoints: {public_key: 'not a key'}}",
            "/audit/checkpoints/public_key",
            ["lienthong audit keys"],
        ),
        ("{checkpoints: {every: 0}}", "/audit/checkpoints/every", ["at least 1"]),
        ("{checkpoints: {interval: 100ms}}", "/audit/checkpoints/interval", ["from 1s to 1d"]),
        ("{checkpoints: {witnesses: []}}", "/audit/checkpoints/witnesses", ["one to eight witnesses"]),
        (
            "{checkpoints: {witnesses: [{file: a, webhook: {url: 'http://x/'}}]}}",
            "/audit/checkpoints/witnesses/0",
            ["a witness is one of file, webhook"],
        ),
        (
            "{checkpoints: {witnesses: [{webhook: {url: 'http://x/', headers: {Content-Type: a}}}]}}",
            "/audit/checkpoints/witnesses/0/webhook/headers/Content-Type",
            ["the bus sets"],
        ),
        ("{chain_key_env: 'lower'}", "/audit/chain_key_env", ["LIENTHONG_AUDIT_CHAIN_KEY"]),
    ],
)
def test_a_bad_audit_section_is_refused_with_its_path_and_fix(
    tmp_path: Path, section: str, pointer: str, words: list[str]
) -> None:
    path = write(tmp_path, BASE + f"audit: {section}\n")
    lines = problems(path)
    found = [line for line in lines if f": {pointer}: " in line]
    assert found, lines
    assert all(word in found[0] for word in words), found[0]
    assert found[0].startswith(str(path))


def test_the_checkpoints_cannot_change_while_the_bus_runs(tmp_path: Path) -> None:
    path = written(tmp_path)
    old, _ = load(path)
    document = yaml.safe_load(path.read_text())
    document["audit"] = {
        "chain_key_env": "OTHER_CHAIN_KEY",
        "checkpoints": {
            "witnesses": [{"webhook": {"url": "http://127.0.0.1:9/c", "headers": {"X-Token": "s3cret"}}}]
        },
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    new, _ = load(path)
    found = restart_problems(old, new)
    assert [p.path for p in found] == [("audit", "chain_key_env"), ("audit", "checkpoints")]
    assert "s3cret" not in found[1].message  # a witness's credentials are not repeated
