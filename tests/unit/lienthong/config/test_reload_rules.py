"""What a reload may change (lienthong.reload_rules): the fields only a restart changes, published
contracts, the summary of changes, and the refusal's problems split as ``config check`` prints them."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from lienthong.loading import load
from lienthong.reload_rules import ConfigInvalid, changes, contract_problems, refuse, restart_problems
from router.errors import ConfigError
from schemas.registry import EVENTS, SchemaRegistry
from tests.support.bus import PORTAL, BusConfig


def written(folder: Path, edit: Any = None) -> Path:
    config = BusConfig(folder).subscribe("first", "http://127.0.0.1:9/events")
    path = config.write()
    if edit is not None:
        document = yaml.safe_load(path.read_text())
        edit(document)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_restart_only_fields_are_named_with_their_line_and_fix(tmp_path: Path) -> None:
    path = written(tmp_path)
    old, _ = load(path)
    document = yaml.safe_load(path.read_text())
    document["transport"]["path"] = "other.db"
    document["http"]["max_body"] = "2MiB"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    new, _ = load(path)
    problems = restart_problems(old, new)
    assert [p.path for p in problems] == [("transport", "path"), ("http", "max_body")]
    refused = refuse(path, problems)
    assert refused.status == 422 and refused.code == "config_invalid"
    first = refused.problems[0]
    assert first["file"] == str(path) and first["pointer"] == "/transport/path"
    lines = path.read_text().splitlines()
    assert first["line"] == next(n for n, text in enumerate(lines, 1) if "path: other.db" in text)
    assert first["fix"].startswith("restart to change transport.path")


def test_nothing_to_restart_for_members_policies_subscriptions(tmp_path: Path) -> None:
    path = written(tmp_path)
    old, registry = load(path)
    document = yaml.safe_load(path.read_text())
    document["subscriptions"].append({**copy.deepcopy(document["subscriptions"][0]), "name": "second"})
    document["policies"].append({"systems": [PORTAL], "subscribe": ["dossier.submitted"]})
    document["members"][0]["systems"][0]["api_keys"].append("sha256:" + "0" * 64)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    new, new_registry = load(path)
    assert restart_problems(old, new) == []
    found = changes(old, new, registry, new_registry)
    assert found.subscriptions_added == ("second",)
    assert found.subscriptions_removed == () and found.subscriptions_changed == ()
    assert found.policies_changed
    assert found.systems_changed == (
        document["members"][0]["code"] + "/" + document["members"][0]["systems"][0]["name"],
    )
    assert "subscriptions added: second" in found.summary()
    assert changes(old, old, registry, registry).nothing


def test_a_change_of_the_limits_alone_is_a_change(tmp_path: Path) -> None:
    path = written(tmp_path)
    old, registry = load(path)
    document = yaml.safe_load(path.read_text())
    document["limits"] = {"publish": {"requests": 5, "per": "1m"}}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    new, new_registry = load(path)
    assert restart_problems(old, new) == []
    found = changes(old, new, registry, new_registry)
    assert not found.nothing
    assert found.limits_changed and found.as_dict()["limits_changed"] is True
    assert found.summary() == "limits changed"


def test_a_published_contract_version_cannot_change_or_go(tmp_path: Path) -> None:
    shipped = SchemaRegistry.load()
    assert contract_problems(shipped, shipped) == []
    folder = tmp_path / "events"
    shutil.copytree(EVENTS, folder)
    changed = folder / "dossier.status.changed" / "1.json"
    document = json.loads(changed.read_text())
    document["description"] = "changed after publication"
    changed.write_text(json.dumps(document))
    (folder / "dossier.submitted" / "2.json").unlink()
    problems = contract_problems(shipped, SchemaRegistry.load(folder))
    assert any("contract dossier.status.changed version 1 was changed" in p for p in problems)
    assert any("contract dossier.submitted version 2 is gone" in p for p in problems)


def test_config_check_lines_are_split_into_file_line_pointer_fix() -> None:
    error = ConfigError(
        "/etc/lienthong.yaml: invalid configuration, 2 problems:\n"
        "/etc/lienthong.yaml:12:5: /subscriptions/0/system: no system 'x/y' in members."
        " Fix: add it to members or correct the id.\n"
        "/etc/lienthong.yaml: dataset d: connector 'c' provides no dataset"
    )
    refused = ConfigInvalid.of(error)
    assert refused.problems[0] == {
        "file": "/etc/lienthong.yaml",
        "line": 12,
        "column": 5,
        "pointer": "/subscriptions/0/system",
        "detail": "no system 'x/y' in members",
        "fix": "add it to members or correct the id",
        "text": "/etc/lienthong.yaml:12:5: /subscriptions/0/system: no system 'x/y' in members."
        " Fix: add it to members or correct the id.",
    }
    assert refused.problems[1] == {
        "detail": "/etc/lienthong.yaml: dataset d: connector 'c' provides no dataset"
    }
