"""A subscription that would receive an event type carrying released personal data (the
contract's ``released_personal_data``), and that is not restricted to its own system's events
(``exact: {recipient: <its system>}``), is refused at load with the file, line, pointer and fix:
the bus loads configurations with the contracts (lienthong.loading.load), as ``serve``, a reload
and ``lienthong config check`` do."""

from __future__ import annotations

from pathlib import Path

import pytest

from lienthong.loading import load
from router.errors import ConfigError
from tests.support.cli import lienthong
from tests.support.paths import EXAMPLES

COLLECTED = "dossier.evidence.collected"
ONESTOP_HASH, PORTAL_HASH = "sha256:" + "ab" * 32, "sha256:" + "cd" * 32
HEAD = f"""\
version: 1
members:
  - code: 000.00.00.H49
    name: UBND tỉnh Quảng Ninh
    systems:
      - name: motcua
        api_keys: ["{ONESTOP_HASH}"]
      - name: truclienthong
  - code: 000.00.00.G22
    name: Văn phòng Chính phủ
    systems:
      - name: dvcqg
        api_keys: ["{PORTAL_HASH}"]
policies:
  - systems: [000.00.00.H49/truclienthong]
    publish: [{COLLECTED}]
  - systems: [000.00.00.H49/motcua, 000.00.00.G22/dvcqg]
    subscribe: ["dossier.*"]
subscriptions:
"""


def subscription(system: str, types: str, filters: str = "") -> str:
    text = f"""\
  - name: one
    system: {system}
    types: {types}
    sink: {{webhook: {{url: "http://127.0.0.1:9101/events"}}}}
"""
    return text + (f"    filters:\n{filters}" if filters else "")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lienthong.yaml"
    path.write_text(text, "utf-8")
    return path


def refusal(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, HEAD + text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    return caught.value.detail


def test_a_portal_subscription_to_evidence_collected_for_others_is_refused(tmp_path: Path) -> None:
    detail = refusal(tmp_path, subscription("000.00.00.G22/dvcqg", f"[dossier.status.changed, {COLLECTED}]"))
    assert detail.count("\n") == 1  # one problem
    line = detail.splitlines()[1]
    # the file, the line and column of the type, the pointer, the reason and the fix
    assert line.startswith(f"{tmp_path / 'lienthong.yaml'}:22:37:")
    assert ": /subscriptions/0/types/1: subscription 'one' would receive 'dossier.evidence.collected'" in line
    assert "personal data released to one system" in line
    assert f"Fix: remove '{COLLECTED}' from the types" in line
    assert "exact: {recipient: 000.00.00.G22/dvcqg}" in line


def test_a_wildcard_subscription_that_policy_lets_see_it_is_refused(tmp_path: Path) -> None:
    detail = refusal(tmp_path, subscription("000.00.00.G22/dvcqg", "[]"))
    assert ": /subscriptions/0: subscription 'one' would receive 'dossier.evidence.collected'" in detail
    assert "list the types it needs" in detail and f"not: {{exact: {{type: {COLLECTED}}}}}" in detail


@pytest.mark.parametrize(
    "filters",
    [
        "      - exact: {recipient: 000.00.00.H49/motcua}\n",  # another system's events
        "      - prefix: {recipient: 000.00.00.G22}\n",  # any system of the member
        "      - any:\n          - exact: {recipient: 000.00.00.G22/dvcqg}\n          - exact: {source: x}\n",
        "      - not: {exact: {recipient: 000.00.00.G22/dvcqg}}\n",
        f"      - exact: {{type: {COLLECTED}}}\n",
    ],
    ids=["another recipient", "a prefix", "any with another way in", "not mine", "the type itself"],
)
def test_filters_that_let_another_systems_events_through_are_refused(tmp_path: Path, filters: str) -> None:
    detail = refusal(tmp_path, subscription("000.00.00.G22/dvcqg", f"[{COLLECTED}]", filters))
    assert "/subscriptions/0/types/0: subscription 'one' would receive" in detail


@pytest.mark.parametrize(
    ("types", "filters"),
    [
        (f"[{COLLECTED}]", "      - exact: {recipient: 000.00.00.G22/dvcqg}\n"),
        (
            f"[{COLLECTED}, dossier.submitted]",
            "      - all:\n          - exact: {recipient: 000.00.00.G22/dvcqg}\n          - prefix: {subject: x}\n",
        ),
        ("[]", f"      - not: {{exact: {{type: {COLLECTED}}}}}\n"),
        ("[]", "      - prefix: {type: dossier.status.}\n"),
        ("[dossier.submitted, dossier.status.changed]", ""),
    ],
    ids=[
        "its own events",
        "its own, and more",
        "wildcard without the type",
        "wildcard on a prefix",
        "other types",
    ],
)
def test_a_subscription_restricted_to_its_own_events_loads(tmp_path: Path, types: str, filters: str) -> None:
    settings, _ = load(write(tmp_path, HEAD + subscription("000.00.00.G22/dvcqg", types, filters)))
    assert [s.name for s in settings.subscriptions] == ["one"]


def test_config_check_refuses_it(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + subscription("000.00.00.G22/dvcqg", f"[{COLLECTED}]"))
    result = lienthong("config", "check", "-c", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}:22:" in result.stderr
    assert (
        "/subscriptions/0/types/0: subscription 'one' would receive 'dossier.evidence.collected'"
        in result.stderr
    )
    assert "Fix: remove 'dossier.evidence.collected' from the types" in result.stderr


def test_the_shipped_example_loads_with_the_contracts() -> None:
    settings, registry = load(EXAMPLES / "lienthong.yaml")
    assert registry.released_types() == {COLLECTED}
    receiving = {s.name for s in settings.subscriptions if COLLECTED in s.types}
    assert receiving == {"onestop-evidence"}
