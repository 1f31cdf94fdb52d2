"""The store's records and the dataset ``result.document`` from a verified result; the connector's
options; the event contract v2 accepts a signed result."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from adapters.signatures import verify
from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.citizen_store import mapping
from connectors.citizen_store.connector import from_settings
from router.errors import ConfigError
from router.ports import StoredMessage
from router.sinks import SinkError
from router.subscriptions import SinkSpec
from schemas.dataset_schemas import shipped
from schemas.registry import SchemaRegistry
from simulators.citizen_store import check_record
from tests.support.results import HOLDER_TAX, NOW, SigningPki, result


@pytest.fixture(scope="module")
def pki() -> SigningPki:
    return SigningPki()


def verified(pki: SigningPki, data: dict[str, Any]) -> Any:
    return verify(
        data,
        pki.anchors,
        agency_code=data["issuingAgency"]["code"],
        signed_at=dt.datetime.fromisoformat(data["issuedAt"]),
        received_at=NOW,
    )


def test_a_verified_result_becomes_a_record_and_the_dataset(pki: SigningPki) -> None:
    data = pki.signed(result(validUntil="2031-05-27T00:00:00+07:00"))
    record = mapping.store_record(data, verified(pki, data))
    assert check_record(record) is None
    assert record["chuSoHuu"] == {"hoTen": "Đỗ Ngọc Yến", "soDinhDanh": data["holder"]["personalId"]}
    assert record["hieuLucDen"] == "2031-05-26T17:00:00Z"
    assert record["vanBanKy"] == data  # the signed original, whole
    document = mapping.result_document(record["vanBanKy"], verified(pki, record["vanBanKy"]))
    assert shipped().validate("result.document", document) == ()
    assert document["signature"]["status"] == "verified"
    assert document["holder"]["personalId"] == data["holder"]["personalId"]


def test_a_business_holder_is_kept_by_tax_code(pki: SigningPki) -> None:
    data = pki.signed(result(holder={"taxCode": HOLDER_TAX, "name": "Công ty TNHH"}))
    record = mapping.store_record(data, verified(pki, data))
    assert record["chuSoHuu"] == {"hoTen": "Công ty TNHH", "maSoThue": HOLDER_TAX}
    assert shipped().validate("result.document", mapping.result_document(data, verified(pki, data))) == ()


def test_a_v1_result_is_not_storable() -> None:
    old = result()
    del old["holder"], old["procedureCode"]
    assert "holder" in (mapping.missing_for_store(old) or "")


def test_the_contract_v2_accepts_a_signed_result(pki: SigningPki) -> None:
    registry = SchemaRegistry.load()
    latest = registry.resolve("dossier.result.issued", None)
    assert registry.validate(latest, pki.signed(result())) == ()
    unsigned_v1 = result()
    del unsigned_v1["holder"], unsigned_v1["procedureCode"], unsigned_v1["title"]
    assert registry.validate(latest, unsigned_v1) == ()


def settings(options: dict[str, Any]) -> ConnectorSettings:
    return ConnectorSettings(
        name="khocongdan", kind="citizen_store", url="http://127.0.0.1:1", options=options
    )


def deps(folder: Path) -> ConnectorDeps:
    return ConnectorDeps(CollectorRegistry(), folder, config_dir=folder)


def test_the_trust_anchors_are_read_relative_to_the_configuration(pki: SigningPki, tmp_path: Path) -> None:
    pki.write_anchors(tmp_path)
    connector = from_settings(settings({"trust_anchors": "trust-anchors.pem"}), deps(tmp_path))
    assert connector.name == "khocongdan"
    assert connector.provider().datasets == frozenset({"result.document"})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "option 'trust_anchors' is required"),
        ({"trust_anchors": "missing.pem"}, "cannot read"),
        ({"trust_anchors": "empty.pem"}, "holds no PEM certificate"),
        ({"trust_anchors": "x", "colour": "red"}, "unknown option(s) colour"),
    ],
)
def test_wrong_options_are_config_errors(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    (tmp_path / "empty.pem").write_text("nothing here\n")
    with pytest.raises(ConfigError) as caught:
        from_settings(settings(options), deps(tmp_path))
    assert message in caught.value.detail


def message(data: dict[str, Any], event_type: str = "dossier.result.issued") -> StoredMessage:
    return StoredMessage(
        topic="sub.citizen-store",
        partition=0,
        offset=0,
        key=data["dossierCode"],
        value=orjson.dumps(data),
        headers=(("ce_type", event_type.encode()), ("ce_id", b"e-1")),
        timestamp_ms=int(NOW.timestamp() * 1000),
    )


@pytest.mark.parametrize(
    ("forge", "words"),
    [
        (lambda pki: pki.signed(result()), "takes dossier.result.issued only"),
        (lambda pki: {k: v for k, v in pki.signed(result()).items() if k != "holder"}, "result_not_storable"),
        (lambda pki: result(), "result_unsigned"),
        (lambda pki: pki.untrusted(result()), "certificate_untrusted"),
    ],
)
async def test_the_sink_refuses_for_good_before_calling_the_store(
    pki: SigningPki, tmp_path: Path, forge: Any, words: str
) -> None:
    pki.write_anchors(tmp_path)
    # port 1: nothing listens there, so a call that reached the store would be a retryable error
    sink = from_settings(settings({"trust_anchors": "trust-anchors.pem"}), deps(tmp_path)).sink(
        SinkSpec("connector", {"name": "khocongdan"})
    )
    event_type = "dossier.status.changed" if "only" in words else "dossier.result.issued"
    try:
        with pytest.raises(SinkError) as caught:
            await sink.send([message(forge(pki), event_type)], "e-1")
    finally:
        await sink.close()
    assert not caught.value.retryable
    assert words in caught.value.detail
