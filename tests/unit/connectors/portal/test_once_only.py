"""Once-only counted the way the portal scores it (766 §4.3-4.5; portal-dvcqg.md §3 rows 10-16):
what the bus collected for a dossier turns into DuocTaiSuDung, DuocLayTuKhoDMQG, MaKetQuaThayThe,
HoSoCoThanhPhanSoHoa and DSKetNoiCSDL."""

from __future__ import annotations

from typing import Any

from connectors.portal import mapping
from connectors.portal.mapping import BodyOptions, Collected
from connectors.portal.sync import _differences

OPTIONS = BodyOptions(
    database_codes={"citizen.identity": "7"},
    dataset_components={
        "citizen.identity": ["CCCD"],
        "business.registration": ["GCNDKDN"],
        "result.document": ["GPKD"],
    },
)


def submitted(documents: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    return {
        "dossierCode": "000.00.00.H49-240502-0001",
        "agencyCode": "000.00.00.H49",
        "procedureCode": "1.002859",
        "applicant": {"type": "business", "name": "Công ty A", "taxCode": "0101234567"},
        "submittedAt": "2024-05-02T01:30:00Z",
        "documents": documents,
        **changes,
    }


def documents(record: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {
        doc["MaThanhPhanHoSo"]: (doc["DuocTaiSuDung"], doc["DuocLayTuKhoDMQG"], doc["MaKetQuaThayThe"])
        for doc in record["TaiLieuNop"]
    }


def test_nothing_collected_claims_nothing() -> None:
    record = mapping.submitted_record(submitted([{"name": "Đơn", "componentCode": "DON"}]), OPTIONS)
    assert documents(record) == {"DON": ("0", "0", "")}
    assert (record["HoSoCoThanhPhanSoHoa"], record["DSKetNoiCSDL"]) == ("0", [])
    assert mapping.apply_evidence(record, [], OPTIONS) == record


def test_a_stored_result_replaces_its_component_from_the_data_store() -> None:
    record = mapping.submitted_record(
        submitted(
            [{"name": "Giấy phép cũ", "componentCode": "GPKD"}, {"name": "Đơn", "componentCode": "DON"}]
        ),
        OPTIONS,
    )
    found = mapping.collected_of(
        [
            {
                "dataset": "result.document",
                "key": {"holder": "0101234567"},
                "data": {"resultCode": "123/GP-SGTVT"},
                "provenance": {
                    "provider": "kho-ketqua",
                    "retrievedAt": "x",
                    "cacheHit": False,
                    "requestId": "r",
                },
            }
        ]
    )
    assert found == [Collected("result.document", "123/GP-SGTVT")]
    after = mapping.apply_evidence(record, found, OPTIONS)
    # 766 §4.4: taken from the citizen's data store; replaced by an existing result (code given)
    assert documents(after) == {"GPKD": ("2", "1", "123/GP-SGTVT"), "DON": ("0", "0", "")}
    assert after["HoSoCoThanhPhanSoHoa"] == "1"
    assert after["DSKetNoiCSDL"] == []  # the data store is not a national database


def test_national_database_data_is_reused_data_not_the_citizens_data_store() -> None:
    record = mapping.submitted_record(
        submitted([{"name": "CCCD", "componentCode": "CCCD"}, {"name": "GCN", "componentCode": "GCNDKDN"}]),
        OPTIONS,
    )
    after = mapping.apply_evidence(
        record, [Collected("citizen.identity"), Collected("business.registration")], OPTIONS
    )
    assert documents(after) == {"CCCD": ("1", "0", ""), "GCNDKDN": ("1", "0", "")}
    # 766 §4.5: the population database counts by its MaCSDL, when the code book has it
    assert after["DSKetNoiCSDL"] == [{"MaCSDL": "7"}]
    assert mapping.apply_evidence(after, [Collected("citizen.identity")], OPTIONS) == after  # idempotent


def test_the_code_book_is_empty_by_default() -> None:
    record = mapping.submitted_record(submitted([{"name": "CCCD", "componentCode": "CCCD"}]))
    after = mapping.apply_evidence(record, [Collected("citizen.identity")])
    assert after["DSKetNoiCSDL"] == []  # no invented MaCSDL
    assert documents(after) == {"CCCD": ("0", "0", "")}  # no component configured for the dataset


def test_a_replaced_component_stays_replaced() -> None:
    record = mapping.submitted_record(submitted([{"name": "GP", "componentCode": "GPKD"}]), OPTIONS)
    replaced = mapping.apply_evidence(record, [Collected("result.document", "9/GP")], OPTIONS)
    options = BodyOptions(dataset_components={"vehicle.registration": ["GPKD"]})
    again = mapping.apply_evidence(replaced, [Collected("vehicle.registration")], options)
    assert documents(again) == {"GPKD": ("2", "1", "9/GP")}


def test_what_the_one_stop_system_declares_is_kept() -> None:
    data = submitted(
        [{"name": "Hồ sơ cũ", "componentCode": "X", "reused": True, "fromNationalStore": True}],
        connectedDatabases=["7", "1"],
        vneidVerified=True,
    )
    record = mapping.submitted_record(data)
    assert documents(record) == {"X": ("1", "1", "")}
    assert record["DSKetNoiCSDL"] == [{"MaCSDL": "7"}, {"MaCSDL": "1"}]
    assert record["TaiKhoanDuocXacThucVoiVNeID"] == "1"
    assert record["HoSoCoThanhPhanSoHoa"] == "1"


def test_collected_records_survive_the_sync_states_json() -> None:
    for item in (Collected("citizen.identity"), Collected("result.document", "1/GP")):
        assert Collected.of_json(item.as_json()) == item
    assert Collected.of_json("citizen.identity") == Collected("citizen.identity")


def test_an_empty_value_and_a_field_the_portal_leaves_out_are_no_drift() -> None:
    record = mapping.submitted_record(submitted([{"name": "Đơn", "componentCode": "DON"}]))
    sparse = {name: value for name, value in record.items() if value not in ("", [])}
    assert _differences(record, sparse) == ()
    assert _differences(record, {**sparse, "SoBienNhan": "BN-1"}) == ("SoBienNhan",)
    assert _differences(record, {**sparse, "TrangThaiHoSo": "4"}) == ("TrangThaiHoSo",)
