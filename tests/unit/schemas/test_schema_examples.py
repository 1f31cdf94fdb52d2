"""The shipped contracts against the example payloads of tests/data/events.

Each type has ``valid-*.json`` and ``invalid-*.json`` data (for its latest version) and
``expected-errors.json`` naming the pointers of each invalid example's errors. The examples are
also run through python-jsonschema: the hot-path validator (jsonschema-rs) is kept only because
it agrees with it on every one of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from schemas.formats import format_checker
from schemas.registry import SchemaRegistry
from schemas.validation import MAX_ERRORS

DATA = Path(__file__).parents[2] / "data" / "events"


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load()


def _examples(kind: str) -> list[tuple[str, Path]]:
    return [
        (folder.name, file)
        for folder in sorted(DATA.iterdir())
        for file in sorted(folder.glob(f"{kind}-*.json"))
    ]


def _load(file: Path) -> Any:
    return json.loads(file.read_text(encoding="utf-8"))


def _id(example: tuple[str, Path]) -> str:
    return f"{example[0]}/{example[1].name}"


def test_every_type_has_valid_and_invalid_examples(registry: SchemaRegistry) -> None:
    names = {info.name for info in registry.types()}
    assert names == {
        "dossier.submitted",
        "dossier.status.changed",
        "dossier.progress.updated",
        "dossier.result.issued",
        "dossier.evidence.collected",
    }
    assert {t for t, _ in _examples("valid")} == names
    assert {t for t, _ in _examples("invalid")} == names


@pytest.mark.parametrize("example", _examples("valid"), ids=_id)
def test_valid_examples_are_valid(registry: SchemaRegistry, example: tuple[str, Path]) -> None:
    event_type, file = example
    ref = registry.resolve(event_type, None)
    data = _load(file)
    assert registry.validate(ref, data) == ()
    assert list(registry.reference_validator(ref).iter_errors(data)) == []


@pytest.mark.parametrize("example", _examples("invalid"), ids=_id)
def test_invalid_examples_are_refused_at_the_right_places(
    registry: SchemaRegistry, example: tuple[str, Path]
) -> None:
    event_type, file = example
    ref = registry.resolve(event_type, None)
    data = _load(file)
    expected = _load(file.parent / "expected-errors.json")[file.name]
    errors = registry.validate(ref, data)
    assert sorted({e.pointer for e in errors}) == expected
    assert all(e.message for e in errors)
    # python-jsonschema agrees that the data is invalid
    assert len(list(registry.reference_validator(ref).iter_errors(data))) > 0


def test_every_invalid_example_has_its_expectation() -> None:
    for folder in DATA.iterdir():
        expected = _load(folder / "expected-errors.json")
        assert sorted(expected) == sorted(f.name for f in folder.glob("invalid-*.json"))


def test_error_messages_say_what_is_wrong(registry: SchemaRegistry) -> None:
    ref = registry.resolve("dossier.submitted", None)
    data = _load(DATA / "dossier.submitted" / "invalid-tax-code-check-digit.json")
    (error,) = registry.validate(ref, data)
    assert error.pointer == "/data/applicant/taxCode"
    assert '"0100109107"' in error.message and "check digit" in error.message

    data = _load(DATA / "dossier.submitted" / "invalid-citizen-without-id.json")
    (error,) = registry.validate(ref, data)
    assert error.message == "needs one of 'personalId', 'oldId'"


def test_pointer_prefix_places_errors_in_a_batch(registry: SchemaRegistry) -> None:
    ref = registry.resolve("dossier.status.changed", None)
    data = _load(DATA / "dossier.status.changed" / "invalid-status-code.json")
    assert {e.pointer for e in registry.validate(ref, data, "/3/data")} == {"/3/data/status"}


def test_pointers_escape_slash_and_tilde(registry: SchemaRegistry) -> None:
    ref = registry.resolve("dossier.status.changed", None)
    data = {**_load(DATA / "dossier.status.changed" / "valid-in-progress.json"), "a/b~c": 1}
    assert [e.pointer for e in registry.validate(ref, data)] == ["/data/a~1b~0c"]


def test_errors_are_bounded(registry: SchemaRegistry) -> None:
    ref = registry.resolve("dossier.status.changed", None)
    data = {f"extra{i}": i for i in range(500)}
    errors = registry.validate(ref, data)
    assert len(errors) == MAX_ERRORS


@pytest.mark.parametrize("data", [None, "text", 42, [], True])
def test_data_that_is_not_an_object(registry: SchemaRegistry, data: Any) -> None:
    ref = registry.resolve("dossier.progress.updated", None)
    errors = registry.validate(ref, data)
    assert [e.pointer for e in errors] == ["/data"]


def test_deeply_nested_data_is_refused_not_crashed(registry: SchemaRegistry) -> None:
    ref = registry.resolve("dossier.submitted", None)
    deep: Any = "x"
    for _ in range(900):
        deep = [deep]
    data = {**_load(DATA / "dossier.submitted" / "valid-minimal.json"), "connectedDatabases": deep}
    errors = registry.validate(ref, data)
    assert errors and all(e.pointer.startswith("/data") for e in errors)


def test_status_changed_v1_reads_v1_data_and_refuses_v2_fields(registry: SchemaRegistry) -> None:
    v1 = registry.resolve("dossier.status.changed", "urn:lienthong:schema:dossier.status.changed:1")
    for _, file in _examples("valid"):
        if file.parent.name == "dossier.status.changed":
            data = _load(file)
            uses_v2 = {"refusedAt", "reason"} & set(data)
            pointers = {e.pointer for e in registry.validate(v1, data)}
            assert pointers == {f"/data/{name}" for name in uses_v2}


def test_bundled_schemas_stand_alone(registry: SchemaRegistry) -> None:
    """The schema the API serves validates like the registry, with no registry of references."""
    for info in registry.types():
        bundled = registry.schema(info.name, info.latest)
        validator = jsonschema.Draft202012Validator(bundled, format_checker=format_checker())
        ref = registry.resolve(info.name, None)
        for kind in ("valid", "invalid"):
            for event_type, file in _examples(kind):
                if event_type == info.name:
                    data = _load(file)
                    assert validator.is_valid(data) == (registry.validate(ref, data) == ()), file
