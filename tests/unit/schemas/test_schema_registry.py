"""The registry's API, and its refusal to load broken contracts (file, JSON path, what is wrong)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from router.errors import ConfigError, MalformedEvent, NotFound, UnknownType
from schemas.registry import EVENTS, SchemaRef, SchemaRegistry, check_all

STATUS = "dossier.status.changed"
COMMON = "urn:lienthong:schema:common:1"


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load()


def test_types(registry: SchemaRegistry) -> None:
    infos = {info.name: info for info in registry.types()}
    status = infos[STATUS]
    assert status.versions == (1, 2, 3)
    assert status.latest == 3
    assert status.compatibility == "BACKWARD"
    assert status.subject_pointer == "/dossierCode"
    assert "TrangThaiHoSo" in status.description
    # v2: representative, vehicles; v3: the agency's name and the applicant's portal account;
    # v4: a household business's personal ID as its tax code
    assert infos["dossier.submitted"].versions == (1, 2, 3, 4)
    assert infos["dossier.result.issued"].versions == (1, 2, 3)
    assert [i.name for i in registry.types()] == sorted(infos)


def test_schema(registry: SchemaRegistry) -> None:
    schema = registry.schema(STATUS, 1)
    assert schema["$id"] == "urn:lienthong:schema:dossier.status.changed:1"
    assert schema["$defs"][COMMON]["$id"] == COMMON  # bundled: stands alone
    assert "$defs" not in registry.schema(STATUS, 1, bundled=False)
    schema["properties"].clear()  # a copy: the registry is not changed
    assert registry.schema(STATUS, 1)["properties"]


def test_schema_of_unknown_type_or_version(registry: SchemaRegistry) -> None:
    with pytest.raises(UnknownType):
        registry.schema("dossier.unknown", 1)
    with pytest.raises(NotFound, match="has no version 4"):
        registry.schema(STATUS, 4)


def test_resolve(registry: SchemaRegistry) -> None:
    latest = registry.resolve(STATUS, None)
    assert latest == SchemaRef(STATUS, 3, "urn:lienthong:schema:dossier.status.changed:3")
    assert registry.resolve(STATUS, "urn:lienthong:schema:dossier.status.changed:1").version == 1
    with pytest.raises(UnknownType):
        registry.resolve("dossier.unknown", None)


@pytest.mark.parametrize(
    "dataschema",
    [
        "urn:lienthong:schema:dossier.status.changed:99",
        "urn:lienthong:schema:dossier.submitted:1",  # another type's schema
        COMMON,
        "https://example.org/status.json",
    ],
)
def test_resolve_refuses_a_foreign_dataschema(registry: SchemaRegistry, dataschema: str) -> None:
    with pytest.raises(MalformedEvent) as caught:
        registry.resolve(STATUS, dataschema)
    assert [e.pointer for e in caught.value.errors] == ["/dataschema"]
    assert "urn:lienthong:schema:dossier.status.changed:2" in caught.value.detail


def test_validate_with_an_unknown_ref(registry: SchemaRegistry) -> None:
    with pytest.raises(UnknownType):
        registry.validate(SchemaRef("x", 1, "urn:lienthong:schema:x:1"), {})


def test_subject_pointer(registry: SchemaRegistry) -> None:
    assert registry.subject_pointer("dossier.submitted") == "/dossierCode"
    with pytest.raises(UnknownType):
        registry.subject_pointer("dossier.unknown")


def test_shipped_contracts_have_no_problems() -> None:
    assert check_all() == []


# --- broken contracts ----------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the shipped contracts to break."""
    copy = tmp_path / "events"
    shutil.copytree(EVENTS, copy)
    return copy


def _edit(file: Path, change: Any) -> None:
    document = json.loads(file.read_text())
    change(document)
    file.write_text(json.dumps(document))


def _problems(root: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        SchemaRegistry.load(root)
    assert caught.value.errors  # one FieldError per problem
    return caught.value.detail


def test_a_schema_that_breaks_the_metaschema(root: Path) -> None:
    file = root / STATUS / "1.json"
    _edit(file, lambda s: s["properties"]["status"].update(type="int"))
    detail = _problems(root)
    assert f"{file}: at $.properties.status.type: not a valid JSON Schema 2020-12" in detail


def test_an_unknown_keyword(root: Path) -> None:
    file = root / "dossier.submitted" / "1.json"
    _edit(file, lambda s: s["properties"]["documents"]["items"].update(requried=["name"]))
    detail = _problems(root)
    assert f"{file}: at $.properties.documents.items: unknown keyword 'requried' (a typo?)" in detail


def test_an_old_draft_keyword_says_what_to_use(root: Path) -> None:
    file = root / "dossier.submitted" / "1.json"
    _edit(file, lambda s: s.update(definitions={}))
    assert "unknown keyword 'definitions'; use $defs" in _problems(root)


def test_a_broken_ref(root: Path) -> None:
    file = root / "dossier.result.issued" / "1.json"
    _edit(file, lambda s: s["properties"].update(note={"$ref": f"{COMMON}#/$defs/nothing"}))
    detail = _problems(root)
    assert f"{file}: at $.properties.note['$ref']: cannot resolve '{COMMON}#/$defs/nothing'" in detail


def test_a_ref_to_an_unregistered_schema(root: Path) -> None:
    file = root / "dossier.result.issued" / "1.json"
    _edit(file, lambda s: s["properties"].update(note={"$ref": "urn:lienthong:schema:common:7#/$defs/text"}))
    assert "no such schema is registered" in _problems(root)


def test_a_relative_ref_to_a_file(root: Path) -> None:
    file = root / "dossier.result.issued" / "1.json"
    _edit(file, lambda s: s["properties"].update(note={"$ref": "../_common/1.json#/$defs/text"}))
    assert f"{file}: at $.properties.note['$ref']: '../_common/1.json#/$defs/text': refer to" in _problems(
        root
    )


def test_a_wrong_id(root: Path) -> None:
    file = root / STATUS / "2.json"
    _edit(file, lambda s: s.update({"$id": "urn:lienthong:schema:dossier.status.changed:1"}))
    assert f"{file}: at $['$id']: must be 'urn:lienthong:schema:dossier.status.changed:2'" in _problems(root)


def test_another_draft(root: Path) -> None:
    file = root / STATUS / "2.json"
    _edit(file, lambda s: s.update({"$schema": "http://json-schema.org/draft-07/schema#"}))
    assert f"{file}: at $['$schema']: must be" in _problems(root)


def test_an_unknown_format(root: Path) -> None:
    file = root / "_common" / "1.json"
    _edit(file, lambda s: s["$defs"]["taxCode"].update(format="vn-tax"))
    detail = _problems(root)
    assert f"{file}: at $['$defs'].taxCode.format: unknown format 'vn-tax'" in detail
    # the schemas that use the broken one are not blamed for it
    assert detail.startswith("1 problem(s)")


def test_invalid_json(root: Path) -> None:
    file = root / STATUS / "1.json"
    file.write_text('{\n  "type": "object",\n}')
    detail = _problems(root)
    assert f"{file}: at $: not valid JSON: " in detail
    assert "(line 3, column 1)" in detail


def test_a_key_twice(root: Path) -> None:
    file = root / STATUS / "1.json"
    file.write_text(file.read_text().replace('"type": "object",', '"type": "object", "type": "array",', 1))
    assert "the key 'type' appears twice" in _problems(root)


def test_an_incompatible_new_version(root: Path) -> None:
    file = root / STATUS / "2.json"
    _edit(file, lambda s: s["required"].append("reason"))
    detail = _problems(root)
    assert f"{file}: at $: not BACKWARD-compatible with v1: BACKWARD: /: v2 requires ['reason']" in detail


def test_the_mode_of_the_type_file_is_used(root: Path) -> None:
    _edit(root / STATUS / "type.json", lambda t: t.update(compatibility="FORWARD"))
    detail = _problems(root)
    assert "not FORWARD-compatible with v1: FORWARD: /refusedAt: v1 does not accept this property" in detail
    _edit(root / STATUS / "type.json", lambda t: t.update(compatibility="NONE"))
    assert check_all(root) == []


def test_a_bad_type_file(root: Path) -> None:
    file = root / STATUS / "type.json"
    _edit(file, lambda t: t.update(compatibility="SIDEWAYS", subject="dossierCode", extra=1))
    detail = _problems(root)
    assert f"{file}: at $.compatibility:" in detail
    assert f"{file}: at $.subject:" in detail
    assert f"{file}: at $: Additional properties are not allowed" in detail


def test_a_subject_that_is_not_a_property(root: Path) -> None:
    file = root / STATUS / "type.json"
    _edit(file, lambda t: t.update(subject="/applicant/personalId"))
    assert (
        f"{file}: at $.subject: version 1: '/applicant/personalId' is not a declared property"
        in _problems(root)
    )


def test_a_subject_that_is_not_a_string(root: Path) -> None:
    _edit(root / STATUS / "type.json", lambda t: t.update(subject="/status"))
    assert "must be declared with type 'string'" in _problems(root)


def test_a_nested_subject_through_refs(root: Path) -> None:
    _edit(root / "dossier.submitted" / "type.json", lambda t: t.update(subject="/applicant/personalId"))
    assert SchemaRegistry.load(root).subject_pointer("dossier.submitted") == "/applicant/personalId"


def test_the_default_mode_is_backward(root: Path) -> None:
    (root / STATUS / "type.json").unlink()
    info = {i.name: i for i in SchemaRegistry.load(root).types()}[STATUS]
    assert info.compatibility == "BACKWARD"
    assert info.subject_pointer is None
    assert info.description.startswith("A dossier moved to a new status")  # from the schema


def test_misplaced_files(root: Path) -> None:
    (root / "notes.txt").write_text("x")
    (root / STATUS / "v3.json").write_text("{}")
    (root / "Dossier Created").mkdir()
    (root / "dossier.empty").mkdir()
    detail = _problems(root)
    assert f"{root / 'notes.txt'}: at $: unexpected file" in detail
    assert f"{root / STATUS / 'v3.json'}: at $: unexpected file" in detail
    assert f"{root / 'Dossier Created'}: at $: a folder is named after its event type" in detail
    assert f"{root / 'dossier.empty'}: at $: an event type needs at least one version file" in detail


def test_no_folder(tmp_path: Path) -> None:
    assert "the schema folder does not exist" in _problems(tmp_path / "missing")


def test_every_problem_is_reported_at_once(root: Path) -> None:
    _edit(root / STATUS / "1.json", lambda s: s["properties"]["status"].update(type="int"))
    _edit(root / "dossier.submitted" / "1.json", lambda s: s.update(definitions={}))
    detail = _problems(root)
    assert detail.startswith("2 problem(s) in the schemas:")
    assert detail.splitlines()[1:] == check_all(root)  # what `lienthong schemas check` prints


def test_a_pattern_the_hot_path_cannot_compile(root: Path) -> None:
    # Python's re (the metaschema's check) knows \Z; ECMA-262 regexes, as JSON Schema uses, do not.
    file = root / "dossier.submitted" / "1.json"
    _edit(file, lambda s: s["properties"]["receiptNumber"].update(pattern="^[0-9]+\\Z"))
    assert f"{file}: at $: does not compile:" in _problems(root)


def test_the_configured_default_mode_applies_to_types_that_name_none(tmp_path: Path) -> None:
    import json
    import shutil

    from schemas.registry import EVENTS, SchemaRegistry

    root = tmp_path / "events"
    shutil.copytree(EVENTS, root)
    for type_file in root.glob("*/type.json"):
        settings = json.loads(type_file.read_text())
        settings.pop("compatibility", None)
        type_file.write_text(json.dumps(settings))
    assert {t.compatibility for t in SchemaRegistry.load(root, "NONE").types()} == {"NONE"}
    assert {t.compatibility for t in SchemaRegistry.load(root).types()} == {"BACKWARD"}
    # under FULL, v2 of dossier.status.changed (new optional fields, closed content) breaks FORWARD
    with pytest.raises(ConfigError, match=r"dossier\.status\.changed"):
        SchemaRegistry.load(root, "FULL")
