"""The ``datasets:`` and ``procedures:`` sections and the evidence sink: the example's catalogue,
and the mistakes the loader catches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lienthong.config import load_settings
from lienthong.loading import load as load_checked
from router.errors import ConfigError
from router.evidence.catalogue import PersonalData
from tests.support.paths import ROOT

EXAMPLE = ROOT / "examples" / "lienthong.yaml"


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    data["transport"]["path"] = "bus.db"
    for issuer in data.get("officials", {}).get("issuers", []):  # its keys stay beside the example
        issuer["jwks_file"] = str(EXAMPLE.parent / issuer["jwks_file"])
    for connector in data["connectors"]:  # and so do the registries' contracts
        options = connector.get("options", {})
        for document in ("wsdl", "reply_xsd"):
            if document in options:
                options[document] = str(EXAMPLE.parent / options[document])
    return data


def load(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "bus.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return load_settings(path)


def problems(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, data)
    return str(raised.value)


def test_the_example_catalogue() -> None:
    catalogue = load_settings(EXAMPLE).catalogue
    identity = catalogue.datasets["citizen.identity"]
    assert identity.provider == "population" and identity.key == ("personal_id",)
    assert identity.personal_data is PersonalData.PERSONAL and identity.cache_ttl_s == 600
    assert identity.fields["dossier_processing"] == ("personalId", "fullName", "sex", "dateOfBirth")
    assert identity.fields["identity_verification"] is None
    assert catalogue.datasets["result.document"].cache_ttl_s is None
    licence = catalogue.procedures["1.002861"]
    assert [n.dataset for n in licence.needs] == [
        "business.registration",
        "citizen.identity",
        "vehicle.registration",
    ]
    badge = catalogue.procedures["1.002856"]
    reuse = next(n for n in badge.needs if n.dataset == "result.document")
    assert reuse.key == {"holder": "/applicant/taxCode", "procedure": "1.002861"}
    assert catalogue.datasets["vehicle.registration"].subject_in_record == "/owner/id"
    broker = {s.name: s for s in load_settings(EXAMPLE).subscriptions}["evidence-broker"]
    assert broker.sink.kind == "evidence" and broker.sink.options == {"deadline_s": 20.0}


def test_sensitive_data_cannot_be_cached(tmp_path: Path) -> None:
    data = example()
    data["datasets"][0]["personal_data"] = "sensitive"
    assert "/datasets/0/cache: sensitive data is never cached" in problems(tmp_path, data)


def test_a_dataset_names_a_configured_connector(tmp_path: Path) -> None:
    data = example()
    data["datasets"][0]["provider"] = "dancu"
    assert "/datasets/0/provider: no connector 'dancu'" in problems(tmp_path, data)


def test_a_need_is_keyed_by_the_datasets_key_and_its_purpose_gets_fields(tmp_path: Path) -> None:
    data = example()
    data["procedures"][0]["needs"][0]["key"] = {"personal_id": "/applicant/personalId"}
    data["procedures"][1]["purpose"] = "statistics"
    data["procedures"][2]["needs"][0]["dataset"] = "land.parcel"
    found = problems(tmp_path, data)
    assert "/procedures/0/needs/0/key: business.registration is keyed by ['tax_code']" in found
    assert "/procedures/1/purpose: business.registration releases no field for purpose 'statistics'" in found
    assert "/procedures/2/needs/0/dataset: no dataset 'land.parcel'" in found


def test_the_broker_may_publish_its_results(tmp_path: Path) -> None:
    data = example()
    rule = next(r for r in data["policies"] if r["systems"] == ["000.00.00.H46/truclienthong"])
    rule["publish"] = ["dossier.status.changed"]
    assert "no policy lets '000.00.00.H46/truclienthong' publish 'dossier.evidence.collected'" in problems(
        tmp_path, data
    )


@pytest.mark.parametrize("pointer", ["owner/id", "/owners/*/id"])
def test_the_holder_in_a_record_is_one_value_at_a_pointer(tmp_path: Path, pointer: str) -> None:
    data = example()
    vehicles = next(i for i, d in enumerate(data["datasets"]) if d["name"] == "vehicle.registration")
    data["datasets"][vehicles]["subject_in_record"] = pointer
    assert f"/datasets/{vehicles}/subject_in_record" in problems(tmp_path, data)


def test_a_dataset_classed_none_may_not_release_a_persons_identifier(tmp_path: Path) -> None:
    data = example()
    firms = next(i for i, d in enumerate(data["datasets"]) if d["name"] == "business.registration")
    data["datasets"][firms]["fields"]["dossier_processing"] = "*"  # the whole record
    path = tmp_path / "bus.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_checked(path)
    assert (
        "dataset business.registration: it is classed personal_data: none, but purpose "
        "dossier_processing releases /legalRepresentative/dateOfBirth, /legalRepresentative/personalId"
    ) in str(raised.value)
    # the example's own choice: the representative's name only
    data["datasets"][firms]["fields"]["dossier_processing"] = ["taxCode", "/legalRepresentative/fullName"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    assert load_checked(path)[0].catalogue.datasets["business.registration"].personal is False
