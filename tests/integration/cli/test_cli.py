"""The ``lienthong`` command line, run as a user runs it: a real process, its exit code, its output."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson

from router.directory import hash_api_key
from tests.support.bus import ONESTOP, OPERATOR, BusConfig, BusProcess
from tests.support.cli import lienthong
from tests.support.events import status_changed
from tests.support.paths import ROOT
from tests.support.receiver import Fault, Receiver


def test_config_check_accepts_the_example() -> None:
    result = lienthong("config", "check", "--config", "examples/lienthong.yaml")
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_config_check_names_file_line_and_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (ROOT / "examples/lienthong.yaml").read_text().replace("partitions: 8", "partitions: lots")
    bad.write_text(text)
    result = lienthong("config", "check", "--config", str(bad))
    assert result.returncode == 2
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "partitions: lots" in row)
    assert f"{bad}:{line}:" in result.stderr
    assert "/transport/partitions" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_refuses_a_subscription_to_an_unregistered_type(tmp_path: Path) -> None:
    text = (ROOT / "examples/lienthong.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("types: [dossier.result.issued]", "types: [dossier.result.isued]"))
    result = lienthong("config", "check", "--config", str(bad))
    assert result.returncode == 2
    assert "dossier.result.isued" in result.stderr


def test_without_config_the_checkouts_example_is_read_from_any_directory(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name != "LIENTHONG_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "lienthong", "config", "check"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{ROOT / 'examples/lienthong.yaml'}: valid")


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    result = lienthong("config", "check", "--config", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    assert "absent.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_schemas_check_lists_every_contract() -> None:
    result = lienthong("schemas", "check")
    assert result.returncode == 0, result.stderr
    for name in (
        "dossier.submitted",
        "dossier.status.changed",
        "dossier.progress.updated",
        "dossier.result.issued",
    ):
        assert name in result.stdout


def test_schemas_check_fails_on_a_broken_contract(tmp_path: Path) -> None:
    folder = tmp_path / "events" / "thing.happened"
    folder.mkdir(parents=True)
    (folder / "1.json").write_text(
        '{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "objekt"}'
    )
    result = lienthong("schemas", "check", "--dir", str(tmp_path / "events"))
    assert result.returncode == 2
    assert "1.json" in result.stderr


def test_keys_new_prints_a_key_and_its_hash() -> None:
    result = lienthong("keys", "new", "000.00.00.H49/motcua")
    assert result.returncode == 0
    key = result.stdout.split("key:")[1].split()[0]
    digest = result.stdout.split("hash:")[1].split()[0]
    assert digest == hash_api_key(key)
    bad = lienthong("keys", "new", "not-a-system")
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr


def test_unknown_command_and_bad_arguments_exit_2() -> None:
    assert lienthong("launch").returncode == 2
    assert lienthong("serve", "--port", "seventy").returncode == 2
    assert lienthong("dlq", "list").returncode == 2  # the subscription is required
    # the paging options' bounds, refused before any bus is called (none runs here)
    for args in (
        ("dlq", "list", "portal", "--page-size", "0"),
        ("dlq", "list", "portal", "--page-size", "1001"),
        ("dlq", "list", "portal", "--limit", "0"),
        ("dlq", "replay", "portal", "--all", "--round-size", "0"),
        ("dlq", "replay", "portal", "--all", "--round-size", "10001"),
    ):
        refused = lienthong(*args, "--key", "lt_x", "--url", "http://127.0.0.1:9")
        assert refused.returncode == 2 and "Invalid value" in refused.stderr, (args, refused.stderr)


async def test_dlq_list_and_replay_through_the_running_bus(tmp_path: Path) -> None:
    with Receiver() as portal:
        portal.fail_when(lambda r: r.headers.get("ce-id", "").endswith("#1"), Fault(422), times=1)
        config = BusConfig(tmp_path).subscribe("portal", portal.url)
        with BusProcess(config) as bus:
            with bus.client(ONESTOP) as client:
                reply = client.post(
                    "/v1/events",
                    json=status_changed(4, 1),
                    headers={"Content-Type": "application/cloudevents+json"},
                )
                assert reply.status_code == 202
            env = {**os.environ, "LIENTHONG_URL": bus.url, "LIENTHONG_API_KEY": config.keys[OPERATOR]}
            letters: list[dict[str, object]] = []
            for _ in range(50):
                listed = await asyncio.to_thread(lienthong, "dlq", "list", "portal", env=env)
                assert listed.returncode == 0, listed.stderr
                letters = [orjson.loads(line) for line in listed.stdout.splitlines()]
                if letters:
                    break
                await asyncio.sleep(0.1)
            assert [letter["reason"] for letter in letters] == ["rejected_by_sink"]
            denied = lienthong(
                "dlq", "replay", "portal", "--all", env={**env, "LIENTHONG_API_KEY": "lt_wrong"}
            )
            assert denied.returncode == 1
            assert "unauthenticated" in denied.stderr
            replayed = await asyncio.to_thread(
                lienthong, "dlq", "replay", "portal", "--id", str(letters[0]["id"]), env=env
            )
            assert replayed.returncode == 0, replayed.stderr
            assert "replayed 1" in replayed.stdout
            await portal.wait_for(1)
    assert portal.received[0].headers["ce-id"].endswith("#1")
